"""What every send activity shares: settings, the database, the ledger, templates and
the signer for tokens in links."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from jinja2 import TemplateError

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Send
from activities.customers import load_customer, template_context
from activities.ledger import Ledger
from activities.rendering import Templates
from sojourn.models import Customer
from sojourn.settings import Settings
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

    async def customer_and_context(self, send: Send) -> tuple[Customer | None, dict[str, Any]]:
        customer = await load_customer(self.sessions, send.customer_id)
        return customer, template_context(self.settings, await self.signer(), customer, send)

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
