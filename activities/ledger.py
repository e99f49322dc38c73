"""The message ledger: what makes a retried send a no-op, and what the frequency cap
counts. Statuses: queued (claimed, not yet handed over), sending (past the point of no
return: SMTP DATA or the POST is on its way), sent, skipped (with the reason), failed,
bounced, unknown (an attempt died while sending: it may or may not have gone out);
every attempt's answer is kept in `message_attempts`.

The ambiguous window. A send is marked `sending` just before the point of no return
and `sent` once the provider answers. A worker killed in between leaves `sending`; the
retry cannot know whether the provider got it. The topic's guarantee decides
(SOJOURN_DELIVERY_GUARANTEES): at-most-once (marketing, by default) records `unknown`
and does not resend; at-least-once (transactional) resends, with the same Message-ID
or Idempotency-Key so the receiving side can collapse the two.

A send claims its idempotency key before talking to a provider and records the
outcome after. A retry (or a restarted worker) that finds the key already final
returns that outcome instead of sending again. A new marketing claim is refused when
the customer already has N claimed or sent messages on that channel in the rolling
window; claim and count happen under one per-customer lock, so two journeys sending
at the same moment cannot both pass.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from temporalio import activity

from activities.contracts import GIVE_UP_SEND, Send, SendGiveUp, SendResult
from sojourn.db import upsert
from sojourn.models import Customer, Message, MessageAttempt, utcnow

FINAL = ("sent", "skipped", "bounced", "unknown")
COUNTED = ("queued", "sending", "sent", "unknown")  # toward the frequency cap: what may have gone out
AMBIGUOUS = "the previous attempt died while sending: it may have gone out"


class Ledger:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def _lock_customer(self, session: AsyncSession, customer_id: str, channel: str) -> None:
        if session.bind.dialect.name == "postgresql":
            await session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"cap:{customer_id}:{channel}"}
            )
        else:
            # SQLite has one writer at a time: taking the write lock first (before any
            # read) makes the count and the insert below one atomic step.
            await session.execute(update(Customer).where(Customer.id == customer_id).values(id=Customer.id))

    async def claim(
        self, send: Send, channel: str, key: str | None = None, cap: tuple[int, timedelta] | None = None,
        guarantee: str = "at-most-once",
    ) -> SendResult | None:
        """Claim `key` for this attempt. Returns the recorded outcome if it is final,
        or a skip if the frequency cap is reached, or `unknown` if an earlier attempt
        died while sending and the guarantee is at-most-once; None means: go ahead
        and send."""
        key = key or send.key
        capped = cap is not None and send.topic != "transactional"
        async with self.sessions() as session:
            if capped:
                await self._lock_customer(session, send.customer_id, channel)
            row = await session.scalar(select(Message).where(Message.idempotency_key == key))
            if row is not None:
                if row.status in FINAL:
                    await session.commit()
                    return SendResult(status=row.status if row.status != "bounced" else "failed",
                                      detail=row.detail or "", already_done=True)
                row.attempts += 1  # a retry of a claimed send: already counted
                if row.status == "sending" and guarantee == "at-most-once":
                    row.status, row.detail = "unknown", f"{AMBIGUOUS}; not sent again (at-most-once)"
                    session.add(MessageAttempt(idempotency_key=key, attempt=row.attempts, status="unknown",
                                               response=row.detail, at=utcnow()))
                    await session.commit()
                    return SendResult(status="unknown", detail=row.detail)
                await session.commit()
                return None
            status, detail = "queued", None
            if capped and cap is not None:
                limit, window = cap
                recent = await session.scalar(
                    select(func.count()).select_from(Message).where(
                        Message.customer_id == send.customer_id,
                        Message.channel == channel,
                        Message.topic != "transactional",
                        Message.status.in_(COUNTED),
                        Message.created_at > utcnow() - window,
                    )
                )
                if recent >= limit:
                    status, detail = "skipped", f"frequency cap: {limit} {channel} per {_window(window)}"
            await session.execute(
                upsert(session, Message)
                .values(
                    idempotency_key=key, customer_id=send.customer_id, journey=send.journey,
                    workflow_id=send.workflow_id, step=send.step, channel=channel, topic=send.topic,
                    status=status, detail=detail, attempts=1, created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            if detail:
                session.add(MessageAttempt(idempotency_key=key, attempt=1, status=status, response=detail, at=utcnow()))
            await session.commit()
        return SendResult(status="skipped", detail=detail) if detail else None

    async def sending(self, key: str, recipient: str | None = None) -> None:
        """Just before the point of no return. Committed before the first byte of the
        message goes out, so a crash after it is known to be ambiguous."""
        async with self.sessions() as session:
            await session.execute(
                update(Message).where(Message.idempotency_key == key, Message.status.in_(("queued", "sending")))
                .values(status="sending", recipient=recipient)
            )
            await session.commit()

    async def give_up(self, key: str, detail: str) -> str | None:
        """The send ran out of attempts: each of its rows still open (the step's, and a
        push's per-browser deliveries) ends `failed`, or `unknown` if its last attempt
        died while sending. Returns the step's status."""
        async with self.sessions() as session:
            rows = (await session.scalars(select(Message).where(
                or_(Message.idempotency_key == key, Message.idempotency_key.startswith(key + "#", autoescape=True))
            ))).all()
            for row in rows:
                if row.status not in ("queued", "sending"):
                    continue
                row.status = "unknown" if row.status == "sending" else "failed"
                row.detail = ((f"{AMBIGUOUS}; " if row.status == "unknown" else "") + f"out of attempts: {detail}")[:2000]
                session.add(MessageAttempt(idempotency_key=row.idempotency_key, attempt=row.attempts,
                                           status=row.status, response=row.detail, at=utcnow()))
            await session.commit()
        step = next((r for r in rows if r.idempotency_key == key), None)
        return step.status if step is not None else None

    async def record(self, key: str, status: str, detail: str = "", recipient: str | None = None) -> None:
        async with self.sessions() as session:
            attempt = await session.scalar(select(Message.attempts).where(Message.idempotency_key == key))
            session.add(MessageAttempt(idempotency_key=key, attempt=attempt or 0, status=status,
                                       response=detail[:2000] or None, at=utcnow()))
            await session.execute(
                update(Message)
                .where(Message.idempotency_key == key)
                .values(
                    status=status,
                    detail=detail[:2000] or None,
                    recipient=recipient,
                    sent_at=utcnow() if status == "sent" else None,
                )
            )
            await session.commit()


def _window(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{window.total_seconds() / 60:g}m"


class LedgerActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.ledger = Ledger(sessions)

    @activity.defn(name=GIVE_UP_SEND)
    async def give_up_send(self, give_up: SendGiveUp) -> str:
        return await self.ledger.give_up(give_up.key, give_up.detail) or ""
