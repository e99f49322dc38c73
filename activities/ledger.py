"""The message ledger: what makes a retried send a no-op.

A send claims its idempotency key before talking to a provider and records the
outcome after. A retry (or a restarted worker) that finds the key already `sent` or
`skipped` returns that outcome instead of sending again.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.contracts import Send, SendResult
from sojourn.db import upsert
from sojourn.models import Message, utcnow

FINAL = ("sent", "skipped")


class Ledger:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def claim(self, send: Send, channel: str, key: str | None = None) -> SendResult | None:
        """Claim `key` for this attempt. Returns the recorded outcome if it is final."""
        key = key or send.key
        async with self.sessions() as session:
            await session.execute(
                upsert(session, Message)
                .values(
                    idempotency_key=key,
                    customer_id=send.customer_id,
                    journey=send.journey,
                    workflow_id=send.workflow_id,
                    step=send.step,
                    channel=channel,
                    status="sending",
                    attempts=0,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            row = await session.scalar(select(Message).where(Message.idempotency_key == key))
            assert row is not None
            if row.status in FINAL:
                await session.commit()
                return SendResult(status=row.status, detail=row.detail or "", already_done=True)
            row.attempts += 1
            await session.commit()
            return None

    async def record(self, key: str, status: str, detail: str = "", recipient: str | None = None) -> None:
        async with self.sessions() as session:
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

    async def outcome(self, send: Send, channel: str, status: str, detail: str) -> SendResult:
        """Claim and record a send decided without a provider (skips)."""
        done = await self.claim(send, channel)
        if done is not None:
            return done
        await self.record(send.key, status, detail)
        return SendResult(status=status, detail=detail)
