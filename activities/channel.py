"""What every send activity shares: settings, the database, the ledger, templates and
the signer for tokens in links."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, Callable, TypeVar

from jinja2 import TemplateError

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Send, SendResult
from activities.customers import load_customer, template_context
from activities.ledger import Ledger
from activities.rendering import Templates
from sojourn.identity import canonical
from sojourn.consent import ConsentRef, is_subscribed, suppression, unsubscribe_token
from sojourn.links import Click, LinkTracker, TrustedUrl
from sojourn.models import Customer
from sojourn.settings import Settings
from sojourn.intelligence import catalog
from sojourn.signing import Signer, load_signer

T = TypeVar("T")


class Channel:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], templates: Templates) -> None:
        self.settings = settings
        self.sessions = sessions
        self.ledger = Ledger(sessions)
        self.templates = templates
        self._signer: Signer | None = None

    async def signer(self) -> Signer:
        if self._signer is None:
            self._signer = await load_signer(self.sessions, self.settings)
        return self._signer

    async def resolved(self, send: Send) -> Send:
        """The send, addressed to the customer its run's visitor turned out to be (a run
        started for an anonymous id that was linked since: sojourn/identity.py)."""
        async with self.sessions() as session:
            customer_id = await canonical(session, send.customer_id)
        return send if customer_id == send.customer_id else dataclasses.replace(send, customer_id=customer_id)

    async def customer_and_context(self, send: Send, channel: str) -> tuple[Customer | None, dict[str, Any]]:
        customer = await load_customer(self.sessions, send.customer_id)
        signer = await self.signer()
        context = template_context(self.settings, signer, customer, send)
        context["unsubscribe_url"] = self.unsubscribe_url(signer, send, channel)
        return customer, context

    def unsubscribe_url(self, signer: Signer, send: Send, channel: str) -> str:
        token = unsubscribe_token(signer, ConsentRef(send.customer_id, channel, send.topic))
        return TrustedUrl(f"{self.settings.public_url.rstrip('/')}/v1/unsubscribe/{token}")

    async def blocked(self, send: Send, channel: str, address: str | None) -> str | None:
        """Why this send must not go out (suppression, consent), or None."""
        async with self.sessions() as session:
            if address is not None:
                suppressed = await suppression(session, channel, address)
                if suppressed is not None:
                    return f"address suppressed ({suppressed.reason})"
            if not await is_subscribed(session, ConsentRef(send.customer_id, channel, send.topic)):
                return f"unsubscribed from {send.topic} {channel}"
        return None

    async def recommendations(self, send: Send, customer_id: str, limit: int = 4) -> dict[str, list[dict[str, Any]]]:
        """Hers, each kind, for a template that shows them (sojourn/intelligence/catalog.py):
        the send's `items` are her cart."""
        items = send.data.get("items")
        cart = [str(i["product_id"]) for i in items if isinstance(i, dict) and i.get("product_id")] \
            if isinstance(items, list) else []
        found: dict[str, list[dict[str, Any]]] = {}
        async with self.sessions() as session:
            for kind in catalog.KINDS:
                ids = await catalog.for_customer(session, customer_id, kind, cart=cart,
                                                 exclude=self.settings.recommend_exclude, limit=limit)
                found[kind] = await catalog.described(session, ids)
        return found

    @staticmethod
    async def measured(channel: str, sending: Awaitable[SendResult]) -> SendResult:
        """Count the send by channel and outcome and time it, in the Temporal SDK's
        metrics (the worker's Prometheus endpoint): `sojourn_sends`, `sojourn_send_duration`.
        An attempt that raises (to be retried) is counted as `retried`."""
        meter = activity.metric_meter()
        started = time.perf_counter()
        outcome = "retried"
        try:
            result = await sending
            outcome = result.status
            return result
        finally:
            meter.create_counter("sojourn_sends", "Send attempts by channel and outcome").add(
                1, {"channel": channel, "outcome": outcome})
            meter.create_histogram_timedelta("sojourn_send_duration", "Time a send attempt took").record(
                timedelta(seconds=time.perf_counter() - started), {"channel": channel})

    async def tracker(self, context: dict[str, Any]) -> LinkTracker:
        return LinkTracker(await self.signer(), self.settings.public_url, keep={context["unsubscribe_url"]},
                           hosts=self.settings.tracked_hosts)

    @staticmethod
    def click(send: Send, channel: str) -> Click:
        return Click(send.customer_id, send.journey, send.step, send.key, channel, "")

    async def finish(self, send: Send, status: str, detail: str, recipient: str | None = None) -> SendResult:
        """Record the step's outcome in the ledger and hand it back to the journey."""
        await self.ledger.record(send.key, status, detail, recipient=recipient)
        return SendResult(status=status, detail=detail)

    def guarantee(self, send: Send) -> str:
        """What a retry does after an attempt died while sending (activities/ledger.py)."""
        return self.settings.guarantee(send.topic)

    def cap(self, channel: str) -> tuple[int, timedelta] | None:
        return self.settings.caps.get(channel)

    async def render(self, send: Send, channel: str, render: Callable[[], T]) -> T:
        """Render, or fail the send for good: a broken or refused template does not
        fix itself on retry. A sandbox refusal is reported, never executed."""
        try:
            return render()
        except (TemplateError, ValueError) as exc:
            detail = f"template {send.template!r} for {channel}: {type(exc).__name__}: {exc}"
            activity.logger.error(detail)
            await self.ledger.record(send.key, "failed", detail)
            raise ApplicationError(detail, type="TemplateError", non_retryable=True) from exc
