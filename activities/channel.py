"""What every send activity shares: settings, the database, the ledger, templates and
the signer for tokens in links."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from jinja2 import TemplateError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.batching import Coalesced
from activities.ledger import Claim, Ledger
from activities.profiles import Addressee, template_context
from activities.rendering import ContentTemplates, Templates
from sojourn.ground.contracts import Send, SendResult
from sojourn.ground.db import among, dialect, for_each_dialect, write_lock
from sojourn.ground.models import Consent, Customer, Identity, PushSubscription, Suppression, table
from sojourn.ground.settings import Settings
from sojourn.ground.signing import Signer, load_signer
from sojourn.identity.consent import ConsentRef, confirmation_token, unsubscribe_token
from sojourn.intelligence import catalog
from sojourn.links.tracking import Click, LinkTracker, TrustedUrl

T = TypeVar("T")


@dataclasses.dataclass
class _Ask:
    send: Send
    channel: str
    cap: tuple[int, timedelta] | None
    guarantee: str


@dataclasses.dataclass
class Recipient:
    send: Send  # addressed to her canonical id
    channel: str
    customer: Addressee | None
    subscribed: bool  # her consent to the send's topic on this channel
    suppressed: str | None  # why her email address is suppressed, if it is
    subscriptions: list[PushSubscription]  # her browsers (push)
    templates: Templates | None = None  # the content at the revision the send claimed
    content_version: int | None = None  # its template's version there
    # Push: each browser's delivery claimed with the step (subscription id -> claim's
    # answer, None meaning go ahead), when the step may go out.
    deliveries: dict[int, SendResult | None] = dataclasses.field(default_factory=dict)
    # Email: her recommendations of each kind, read with the claim when the template
    # shows them (`Channel._recommend`).
    recommendations: dict[str, list[dict[str, Any]]] | None = None

    @property
    def content(self) -> Templates:
        assert self.templates is not None, "prepare() sets the templates"
        return self.templates

    @property
    def blocked(self) -> str | None:
        """Why this send must not go out (suppression, consent), or None."""
        if self.suppressed is not None:
            return f"address suppressed ({self.suppressed})"
        if not self.subscribed:
            return f"unsubscribed from {self.send.topic} {self.channel}"
        return None


TEMPLATED = ("email", "push", "onsite")  # the channels whose sends render content
DELIVERY = "push-delivery"  # the ledger's channel of a push's per-browser rows


# Who the sends of a moment are for, in statements built once (activities/ledger.py says why).
_LINKS = for_each_dialect(lambda d: select(Identity.alias_id, Identity.customer_id).where(
    among(Identity.alias_id, "ids", d)))
_CUSTOMERS = for_each_dialect(lambda d: select(Customer.id, Customer.email, Customer.first_name, Customer.traits).where(
    among(Customer.id, "ids", d)))
_CONSENTS = for_each_dialect(lambda d: select(Consent.customer_id, Consent.channel, Consent.topic, Consent.subscribed)
                             .where(among(Consent.customer_id, "ids", d)))
_SUPPRESSED = for_each_dialect(lambda d: select(Suppression.address, Suppression.reason).where(
    Suppression.channel == "email", among(Suppression.address, "addresses", d)))
_BROWSERS = for_each_dialect(lambda d: select(PushSubscription).where(
    among(PushSubscription.customer_id, "ids", d)).order_by(PushSubscription.id))
_TAKE_WRITE_LOCK = update(table(Customer)).where(table(Customer).c.id == "").values(id="")


def delivery_key(send: Send, sub: PushSubscription) -> str:
    return f"{send.key}#push{sub.id}"


class Channel:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession],
                 templates: Templates | ContentTemplates) -> None:
        self.settings = settings
        self.sessions = sessions
        self.ledger = Ledger(sessions)
        self.templates = templates
        self._signer: Signer | None = None
        self._prepared = Coalesced(self._prepare_many)
        # Parsed once, not per send (settings don't change under a running worker).
        self._caps = settings.caps
        self._tracked_hosts = settings.tracked_hosts

    async def signer(self) -> Signer:
        if self._signer is None:
            self._signer = await load_signer(self.sessions, self.settings)
        return self._signer

    async def prepare(self, send: Send, channel: str, cap: tuple[int, timedelta] | None = None,
                      guarantee: str = "at-most-once") -> tuple[Recipient, SendResult | None]:
        """Who the send is for, and its claim in the ledger (`Ledger.claim`: None means
        go ahead), in one transaction with the other sends of the moment
        (activities/batching.py). Who: the customer her run's visitor turned out to be
        (an anonymous id linked since: sojourn/identity/linking.py), her profile, her consent to
        the send's topic on the channel, whether her email address is suppressed, and,
        for push, her browsers. And what it says: the content live at its first claim
        (`Recipient.templates`), the same on every retry."""
        await self.templates.ready()  # the files stored as the first version, once per process
        return await self._prepared(_Ask(send, channel, cap, guarantee))

    async def _prepare_many(self, asks: list[_Ask]) -> list[tuple[Recipient, SendResult | None]]:
        async with write_lock(self.sessions), self.sessions() as session:
            if dialect(session) == "sqlite":
                # SQLite: the write lock before any read, or the claim can't upgrade to a
                # writer once another process has committed (Ledger._lock_customers).
                await session.execute(_TAKE_WRITE_LOCK)
            found = await self._recipients_in(session, asks)
            revision = await self.templates.live_revision(session)
            live = await self.templates.at(revision, session)
            claims = [Claim(who.send, ask.channel, who.send.key, ask.cap, ask.guarantee, revision,
                            live.version(f"{ask.channel}/{who.send.template}") if ask.channel in TEMPLATED else None)
                      for who, ask in zip(found, asks)]
            results = await self.ledger.claim_in(session, claims)
            for who, claim in zip(found, claims):
                who.templates = live if claim.revision == revision else await self.templates.at(claim.revision, session)
                who.content_version = claim.version
            going = [who for who, result in zip(found, results) if result is None]
            await self._claim_deliveries(session, going)
            await self._recommend(session, going)
            await session.commit()
        return list(zip(found, results))

    async def _claim_deliveries(self, session: AsyncSession, going: list[Recipient]) -> None:
        """A push step that may go out claims a delivery per browser in the same
        transaction (activities/push.py): exempt from the cap (the step's row counts it),
        with the step's guarantee, so a retry after a partial fan-out reaches only the
        browsers that did not get it yet."""
        pushing = [who for who in going if who.channel == "push" and who.subscriptions and who.blocked is None]
        claims = [Claim(dataclasses.replace(who.send, topic="transactional"), DELIVERY, delivery_key(who.send, sub),
                        None, self.guarantee(who.send)) for who in pushing for sub in who.subscriptions]
        if not claims:
            return
        answers = iter(await self.ledger.claim_in(session, claims))
        for who in pushing:
            who.deliveries = {sub.id: next(answers) for sub in who.subscriptions}

    async def _recipients_in(self, session: AsyncSession, asks: list[_Ask]) -> list[Recipient]:
        links = dict((await session.execute(_LINKS[dialect(session)], {"ids": list({ask.send.customer_id for ask in asks})})).all())
        sends = [dataclasses.replace(ask.send, customer_id=links[ask.send.customer_id])
                 if links.get(ask.send.customer_id) else ask.send for ask in asks]
        ids = list({send.customer_id for send in sends})
        customers = {c: Addressee(c, email, first_name, dict(traits or {}))
                     for c, email, first_name, traits in await session.execute(_CUSTOMERS[dialect(session)], {"ids": ids})}
        consents = {(customer, channel, topic): subscribed for customer, channel, topic, subscribed in (
            await session.execute(_CONSENTS[dialect(session)], {"ids": ids}))}
        emailing = {send.customer_id for send, ask in zip(sends, asks) if ask.channel == "email"}
        addresses = list({c.email.lower() for c in customers.values() if c.email and c.id in emailing})
        suppressed = dict((await session.execute(_SUPPRESSED[dialect(session)], {"addresses": addresses})).all()) if addresses else {}
        pushing = list({send.customer_id for send, ask in zip(sends, asks) if ask.channel == "push"})
        browsers: dict[str, list[PushSubscription]] = {}
        if pushing:
            for sub in await session.scalars(_BROWSERS[dialect(session)], {"ids": pushing}):
                browsers.setdefault(sub.customer_id, []).append(sub)
        found = []
        for send, channel in zip(sends, (ask.channel for ask in asks)):
            customer = customers.get(send.customer_id)
            address = customer.email.lower() if channel == "email" and customer and customer.email else None
            found.append(Recipient(
                send=send, channel=channel, customer=customer,
                subscribed=send.topic == "transactional" or consents.get(
                    (send.customer_id, channel, send.topic)) is not False,
                suppressed=suppressed.get(address) if address else None,
                subscriptions=browsers.get(send.customer_id, []),
            ))
        return found

    async def context(self, who: Recipient) -> dict[str, Any]:
        """What her templates see."""
        signer = await self.signer()
        context = template_context(self.settings, signer, who.customer, who.send)
        context["unsubscribe_url"] = self.unsubscribe_url(signer, who.send, who.channel)
        if (who.channel == "email" and who.customer is not None and who.customer.email
                and who.content.email_uses(who.send.template, "confirm_url")):  # signed only where shown
            context["confirm_url"] = self.confirm_url(signer, who.send, who.customer.email)
        return context

    def confirm_url(self, signer: Signer, send: Send, address: str) -> str:
        """Double opt-in's link: her marketing email consent, for this address only,
        for `confirmation_link_days` (api/routes/confirm.py)."""
        expires = int(time.time()) + self.settings.confirmation_link_days * 86400
        token = confirmation_token(signer, ConsentRef(send.customer_id, "email", "marketing"), address, expires)
        return TrustedUrl(f"{self.settings.public_url.rstrip('/')}/v1/confirm/{token}")

    def unsubscribe_url(self, signer: Signer, send: Send, channel: str) -> str:
        token = unsubscribe_token(signer, ConsentRef(send.customer_id, channel, send.topic))
        return TrustedUrl(f"{self.settings.public_url.rstrip('/')}/v1/unsubscribe/{token}")

    async def _recommend(self, session: AsyncSession, going: list[Recipient], limit: int = 4) -> None:
        """Hers, each kind, for the emails that may go out and whose template shows them
        (sojourn/intelligence/catalog.py): the same few queries for all the emails of
        the moment. A send's `items` are her cart."""
        showing = [who for who in going if who.channel == "email" and who.customer is not None
                   and who.customer.email and who.blocked is None
                   and who.content.email_uses(who.send.template, "recommendations")]
        if not showing:
            return
        carts = []
        for who in showing:
            items = who.send.data.get("items")
            carts.append([str(i["product_id"]) for i in items if isinstance(i, dict) and i.get("product_id")]
                         if isinstance(items, list) else [])
        chosen = await catalog.for_customers_kinds(session, [(who.send.customer_id, cart) for who, cart in
                                                             zip(showing, carts)], catalog.KINDS,
                                                   exclude=self.settings.recommend_exclude, limit=limit)
        known = {p["product_id"]: p for p in await catalog.described(session, list(dict.fromkeys(
            p for ids in chosen for kind in ids.values() for p in kind)))}
        for who, ids in zip(showing, chosen):
            who.recommendations = {kind: [known[p] for p in products] for kind, products in ids.items()}

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
        # Her own links to her choices are left alone: no redirect, and no click to count.
        keep = {context["unsubscribe_url"], *([context["confirm_url"]] if "confirm_url" in context else [])}
        return LinkTracker(await self.signer(), self.settings.public_url, keep=keep,
                           hosts=self._tracked_hosts)

    @staticmethod
    def click(send: Send, channel: str) -> Click:
        return Click(send.customer_id, send.journey, send.step, send.key, channel, "")

    async def finish(self, send: Send, status: str, detail: str, recipient: str | None = None,
                     also: Sequence[tuple[str, str, str, str | None]] = ()) -> SendResult:
        """Record the step's outcome in the ledger and hand it back to the journey;
        with it, in the same transaction, the outcomes in `also` (key, status, detail,
        recipient) that waited for it."""
        await self.ledger.record_all([(send.key, status, detail, recipient), *also])
        return SendResult(status=status, detail=detail)

    def guarantee(self, send: Send) -> str:
        """What a retry does after an attempt died while sending (activities/ledger.py)."""
        return self.settings.guarantee(send.topic)

    def cap(self, channel: str) -> tuple[int, timedelta] | None:
        return self._caps.get(channel)

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
