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

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import DateTime, String, Text, bindparam, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from temporalio import activity

from activities.batching import Coalesced
from sojourn.ground.addresses import without_addresses
from sojourn.ground.contracts import GIVE_UP_SEND, Send, SendGiveUp, SendResult
from sojourn.ground.db import among, dialect, for_each_dialect, insert_for, write_lock
from sojourn.ground.models import Customer, Message, MessageAttempt, table, utcnow

FINAL = ("sent", "skipped", "bounced", "unknown")
COUNTED = ("queued", "sending", "sent", "unknown")  # toward the frequency cap: what may have gone out
AMBIGUOUS = "the previous attempt died while sending: it may have gone out"


@dataclass
class Claim:
    """One send's claim of its idempotency key (Ledger.claim)."""

    send: Send
    channel: str
    key: str
    cap: tuple[int, timedelta] | None
    guarantee: str
    # The content live now (sojourn/content/store.py) and the send's template's version
    # in it. A first claim records them; a retry's claim is given back the ones its
    # first claim recorded, so it renders the words it started with.
    revision: int | None = None
    version: int | None = None


@dataclass
class _Outcome:
    key: str
    status: str
    detail: str
    recipient: str | None


MESSAGES, ATTEMPTS = table(Message), table(MessageAttempt)

# The ledger's statements, built once: one built per call costs about as much CPU
# again as running it (SQLAlchemy coerces every clause and walks the tree for its
# cache key), and a send runs several (bench/sending.py).
_ROWS = for_each_dialect(lambda d: select(
    MESSAGES.c.idempotency_key, MESSAGES.c.status, MESSAGES.c.detail, MESSAGES.c.attempts,
    MESSAGES.c.content_revision, MESSAGES.c.content_version).where(among(MESSAGES.c.idempotency_key, "keys", d)))
_RECENT = for_each_dialect(lambda d: select(MESSAGES.c.customer_id, func.count()).where(
    among(MESSAGES.c.customer_id, "customers", d),
    MESSAGES.c.channel == bindparam("channel"),
    MESSAGES.c.topic != "transactional",
    MESSAGES.c.status.in_(COUNTED),
    MESSAGES.c.created_at > bindparam("since"),
).group_by(MESSAGES.c.customer_id))
_RETRIED = update(MESSAGES).where(MESSAGES.c.idempotency_key == bindparam("b_key")).values(
    status=bindparam("b_status"), detail=bindparam("b_detail"), attempts=bindparam("b_attempts"))
# `or_`, not `in_`: an IN list expands at execution, which a statement run once per row
# (executemany) cannot do; the batch then failed and each mark went alone.
_SENDING = update(MESSAGES).where(
    MESSAGES.c.idempotency_key == bindparam("b_key"),
    or_(MESSAGES.c.status == "queued", MESSAGES.c.status == "sending"),
).values(status="sending", recipient=bindparam("b_recipient"))
# Each outcome's attempt number is the one its claim counted, read in the insert.
_ANSWERED = insert(ATTEMPTS).values(
    idempotency_key=bindparam("b_key"), status=bindparam("b_status"), response=bindparam("b_detail"),
    at=bindparam("b_at"), attempt=func.coalesce(select(MESSAGES.c.attempts).where(
        MESSAGES.c.idempotency_key == bindparam("b_key")).scalar_subquery(), 0))
_OUTCOME = update(MESSAGES).where(MESSAGES.c.idempotency_key == bindparam("b_key")).values(
    status=bindparam("b_status"), detail=bindparam("b_detail"), recipient=bindparam("b_recipient"),
    sent_at=bindparam("b_sent_at"))

def _answered_with_outcome() -> Any:
    """PostgreSQL: the outcome and its attempt's answer in one statement (the update
    hands its row's attempt count to the insert), so it needs no transaction of its
    own around it."""
    updated = (update(MESSAGES).where(MESSAGES.c.idempotency_key == bindparam("b_key"))
               .values(status=bindparam("b_status"), detail=bindparam("b_detail"),
                       recipient=bindparam("b_recipient"), sent_at=bindparam("b_sent_at"))
               .returning(MESSAGES.c.idempotency_key, MESSAGES.c.attempts).cte("updated"))
    return insert(ATTEMPTS).from_select(
        ["idempotency_key", "attempt", "status", "response", "at"],
        select(updated.c.idempotency_key, updated.c.attempts, bindparam("b_status", type_=String),
               bindparam("b_detail", type_=Text), bindparam("b_at", type_=DateTime(timezone=True))))


_ANSWERED_WITH_OUTCOME = _answered_with_outcome()
_FRESH = {name: insert_for(name)(MESSAGES).on_conflict_do_nothing(index_elements=["idempotency_key"])
          for name in ("postgresql", "sqlite")}
_LOCK_CAPS = text("SELECT pg_advisory_xact_lock(hashtext(k)) FROM"
                  " (SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k) AS ordered")
_LOCK_CUSTOMERS = update(table(Customer)).where(
    table(Customer).c.id.in_(bindparam("ids", expanding=True))).values(id=table(Customer).c.id)


class ClaimBatch:
    """The claims of one transaction, decided in order as if one after the other."""

    def __init__(self, rows: dict[str, dict[str, Any]], recent: dict[tuple[str, str], int]) -> None:
        self.rows = rows  # existing ledger rows by key
        self.recent = recent  # (customer, channel) -> what counts toward her cap
        self.fresh: dict[str, dict[str, Any]] = {}  # rows to insert
        self.changed: dict[str, dict[str, Any]] = {}  # existing rows to update
        self.attempts: list[dict[str, Any]] = []

    def claim(self, c: Claim) -> SendResult | None:
        if c.key in self.fresh:  # the same key twice in one batch: the second is a retry of the first
            first = self.fresh[c.key]
            if first["status"] != "queued":
                return SendResult(status=first["status"], detail=without_addresses(first["detail"] or ""),
                                  already_done=True)
            first["attempts"] += 1
            return None
        row = self.rows.get(c.key)
        if row is not None:
            if row["revision"] is not None:
                c.revision, c.version = row["revision"], row["version"]
            if row["status"] in FINAL:
                return SendResult(status=row["status"] if row["status"] != "bounced" else "failed",
                                  detail=without_addresses(row["detail"] or ""), already_done=True)
            row["attempts"] += 1  # a retry of a claimed send: already counted
            self.changed[c.key] = row
            if row["status"] == "sending" and c.guarantee == "at-most-once":
                row["status"], row["detail"] = "unknown", f"{AMBIGUOUS}; not sent again (at-most-once)"
                self.attempts.append({"idempotency_key": c.key, "attempt": row["attempts"], "status": "unknown",
                                      "response": row["detail"], "at": utcnow()})
                return SendResult(status="unknown", detail=row["detail"])
            return None
        status, detail = "queued", None
        if c.cap is not None and c.send.topic != "transactional":
            limit, window = c.cap
            counted = (c.send.customer_id, c.channel)
            if self.recent.get(counted, 0) >= limit:
                status, detail = "skipped", f"frequency cap: {limit} {c.channel} per {_window(window)}"
            else:
                self.recent[counted] = self.recent.get(counted, 0) + 1  # a later claim in this batch counts it
        send = c.send
        self.fresh[c.key] = dict(
            idempotency_key=c.key, customer_id=send.customer_id, journey=send.journey, workflow_id=send.workflow_id,
            step=send.step, channel=c.channel, topic=send.topic, status=status, detail=detail, attempts=1,
            created_at=utcnow(), recipient=None, sent_at=None, content_revision=c.revision, content_version=c.version,
            content_name=f"{c.channel}/{send.template}" if c.version is not None else None,
        )
        if detail:
            self.attempts.append({"idempotency_key": c.key, "attempt": 1, "status": status, "response": detail,
                                  "at": utcnow()})
            return SendResult(status="skipped", detail=detail)
        return None


class Ledger:
    """Claims, `sending` marks and outcomes of sends running at the same time go to the
    database together, one transaction per batch (activities/batching.py); each send
    still waits for its own to be committed, so the ambiguous window is unchanged."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._claims = Coalesced(self._claim_many)
        self._sendings = Coalesced(self._sending_many)
        self._records = Coalesced(self._record_many)
        engine = sessions.kw["bind"]
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT") \
            if engine.dialect.name == "postgresql" else None

    async def _lock_customers(self, session: AsyncSession, customers: set[tuple[str, str]]) -> None:
        """The claim-and-count of each (customer, channel) is one atomic step across
        workers: PostgreSQL advisory locks, taken in one order so two batches can't
        deadlock; SQLite's single writer lock, taken before any read."""
        if dialect(session) == "postgresql":
            # All of the batch's locks in one round trip, in the order of their names.
            await session.execute(_LOCK_CAPS, {"keys": sorted(f"cap:{customer}:{channel}"
                                                              for customer, channel in customers)})
        else:
            await session.execute(_LOCK_CUSTOMERS, {"ids": sorted({customer for customer, _ in customers})})

    async def claim(
        self, send: Send, channel: str, key: str | None = None, cap: tuple[int, timedelta] | None = None,
        guarantee: str = "at-most-once",
    ) -> SendResult | None:
        """Claim `key` for this attempt. Returns the recorded outcome if it is final,
        or a skip if the frequency cap is reached, or `unknown` if an earlier attempt
        died while sending and the guarantee is at-most-once; None means: go ahead
        and send."""
        return await self._claims(Claim(send, channel, key or send.key, cap, guarantee))

    async def _claim_many(self, claims: list[Claim]) -> list[SendResult | None]:
        async with write_lock(self.sessions), self.sessions() as session:
            results = await self.claim_in(session, claims)
            await session.commit()
        return results

    async def claim_in(self, session: AsyncSession, claims: list[Claim]) -> list[SendResult | None]:
        """The claims, in the caller's transaction (which commits them)."""
        capped = [c for c in claims if c.cap is not None and c.send.topic != "transactional"]
        if capped:
            await self._lock_customers(session, {(c.send.customer_id, c.channel) for c in capped})
        rows = {key: {"status": status, "detail": detail, "attempts": attempts, "revision": revision, "version": version}
                for key, status, detail, attempts, revision, version in await session.execute(
                    _ROWS[dialect(session)], {"keys": list({c.key for c in claims})})}
        recent: dict[tuple[str, str], int] = {}
        for channel, window in {(c.channel, c.cap[1]) for c in capped if c.cap is not None}:
            for customer, count in await session.execute(_RECENT[dialect(session)], {
                    "customers": list({c.send.customer_id for c in capped if c.channel == channel}),
                    "channel": channel, "since": utcnow() - window}):
                recent[(customer, channel)] = count
        batch = ClaimBatch(rows, recent)
        results = [batch.claim(c) for c in claims]
        if batch.fresh:
            # Rows as parameters, not a VALUES list built into the statement: the
            # statement's compiled form is then cached, whatever the batch's size.
            await session.execute(_FRESH[dialect(session)], list(batch.fresh.values()))
        if batch.changed:
            await session.execute(_RETRIED, [
                {"b_key": key, "b_status": row["status"], "b_detail": row["detail"], "b_attempts": row["attempts"]}
                for key, row in batch.changed.items()])
        if batch.attempts:
            await session.execute(insert(ATTEMPTS), batch.attempts)
        return results

    async def sending(self, key: str, recipient: str | None = None) -> None:
        """Just before the point of no return. Committed before the first byte of the
        message goes out, so a crash after it is known to be ambiguous."""
        await self._sendings((key, recipient))

    @contextlib.asynccontextmanager
    async def _one_statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for work that is one statement: on PostgreSQL without a
        transaction around it (a statement is atomic by itself, and BEGIN and COMMIT
        would be two more round trips); on SQLite in one, so a batch is one write."""
        if self._autocommit is not None:
            async with self._autocommit.connect() as conn:
                yield conn
        else:
            async with write_lock(self.sessions), self.sessions.kw["bind"].begin() as conn:
                yield conn

    async def _sending_many(self, marks: list[tuple[str, str | None]]) -> list[None]:
        async with self._one_statement() as conn:
            await conn.execute(_SENDING, [{"b_key": key, "b_recipient": recipient} for key, recipient in marks])
        return [None] * len(marks)

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
        await self._records(_Outcome(key, status, detail, recipient))

    async def record_all(self, outcomes: Sequence[tuple[str, str, str, str | None]]) -> None:
        """Several outcomes (key, status, detail, recipient), in one transaction."""
        await self._records.each([_Outcome(*outcome) for outcome in outcomes])

    async def _record_many(self, outcomes: list[_Outcome]) -> list[None]:
        now = utcnow()
        answers = [{"b_key": o.key, "b_status": o.status, "b_detail": o.detail[:2000] or None, "b_at": now,
                    "b_recipient": o.recipient, "b_sent_at": now if o.status == "sent" else None} for o in outcomes]
        if self._autocommit is not None:
            async with self._one_statement() as conn:
                await conn.execute(_ANSWERED_WITH_OUTCOME, answers)
            return [None] * len(outcomes)
        async with write_lock(self.sessions), self.sessions() as session:
            await session.execute(_ANSWERED, answers)
            await session.execute(_OUTCOME, answers)
            await session.commit()
        return [None] * len(outcomes)


def _window(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{window.total_seconds() / 60:g}m"


class LedgerActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.ledger = Ledger(sessions)

    @activity.defn(name=GIVE_UP_SEND)
    async def give_up_send(self, give_up: SendGiveUp) -> str:
        return await self.ledger.give_up(give_up.key, give_up.detail) or ""
