"""Coupon pools: unique codes per offer, issued at most once per journey run and slot.

A pool is an offer's codes, filled by generating them (a prefix and random characters
from an alphabet without look-alikes) or by importing a CSV. Each code goes
available -> assigned -> redeemed, or expired once past its `expires_at` unredeemed.

- **Issuing** (`issue`) takes one available code for a run's slot. The slot's key is
  unique, so retries, replays and a worker crash between the commit and the answer all
  get the same code back; concurrent journeys never get the same code (PostgreSQL: the
  row is taken with FOR UPDATE SKIP LOCKED; SQLite: writers are serialized).
- **Redeeming** (`redeem`, in the store's transaction): an "Order Completed" with a
  `coupon` property, or a "Coupon Applied" with `coupon_id` or `coupon_name`, as Segment's
  e-commerce spec names them.
- **Running low:** an issue that leaves fewer than the pool's `low_stock` codes logs a
  warning; `GET /v1/coupons` flags the pool. An empty pool issues nothing, and the send
  that wanted the code is skipped with that reason.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.calls import Call
from sojourn.ground.db import dialect, insert_for, rowcount
from sojourn.ground.models import CouponCode, CouponPool, aware, table, utcnow
from sojourn.ground.settings import Settings

log = logging.getLogger("sojourn.coupons.pools")
# No 0/O, 1/I/L, 5/S, 2/Z, 8/B: a code read aloud or copied by hand stays one code.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
MAX_CODE = 64
# Generated codes fill at most this share of the space, so a random draw rarely collides
# and nobody guesses a code by trying a few.
MAX_FILL = 0.01
GENERATE_LIMIT = 100_000  # codes per call


class PoolError(ValueError):
    """A pool request that can't be met; the message says why (a 4xx for the API)."""


@dataclass
class Issued:
    code: str | None
    expires_at: datetime | None = None
    reason: str = ""  # why none was issued
    remaining: int = 0


def _code_space(length: int) -> int:
    return len(ALPHABET) ** length


async def ensure_pool(session: AsyncSession, offer: str, low_stock: int | None = None) -> CouponPool:
    pool = await session.get(CouponPool, offer)
    if pool is None:
        pool = CouponPool(offer=offer, low_stock=low_stock if low_stock is not None else 50, created_at=utcnow())
        session.add(pool)
    elif low_stock is not None:
        pool.low_stock = low_stock
    return pool


async def generate(session: AsyncSession, offer: str, count: int, *, prefix: str = "", length: int = 8,
                   low_stock: int | None = None) -> int:
    """Add `count` new random codes to the offer's pool. Refused (PoolError) if the codes
    would fill more than 1% of what `length` characters can spell."""
    if not 1 <= count <= GENERATE_LIMIT:
        raise PoolError(f"count must be between 1 and {GENERATE_LIMIT}")
    if not 4 <= length <= 32 or len(prefix) + length > MAX_CODE:
        raise PoolError(f"length must be 4 to 32, and prefix plus length at most {MAX_CODE} characters")
    if any(not (c.isascii() and (c.isalnum() or c in "-_")) for c in prefix):
        raise PoolError("prefix may hold only ASCII letters, digits, '-' and '_'")
    await ensure_pool(session, offer, low_stock)
    existing = await session.scalar(
        select(func.count()).select_from(CouponCode).where(CouponCode.code.startswith(prefix, autoescape=True))) or 0
    space = _code_space(length)
    if existing + count > space * MAX_FILL:
        need = math.ceil(math.log((existing + count) / MAX_FILL, len(ALPHABET)))
        raise PoolError(f"{count} codes of {length} characters after {prefix!r} would fill over {MAX_FILL:.0%} of "
                        f"the {space} possible; use a length of at least {need}")
    made, now = 0, utcnow()
    insert = insert_for(dialect(session))(table(CouponCode)).on_conflict_do_nothing(index_elements=["code"])
    for _ in range(20):  # each round draws the shortfall; collisions are dropped, then redrawn
        want = count - made
        codes = {prefix + "".join(secrets.choice(ALPHABET) for _ in range(length)) for _ in range(want)}
        result = await session.execute(insert.returning(table(CouponCode).c.id), [
            {"offer": offer, "code": code, "state": "available", "created_at": now} for code in codes])
        made += len(result.all())
        if made >= count:
            return made
    raise PoolError("could not draw unique codes; use a longer length")


def parse_csv(text: str) -> tuple[list[tuple[str, datetime | None]], list[str]]:
    """Codes from a CSV: a `code` column (or the first column), an optional `expires_at`
    column (ISO-8601). Returns the codes and a list of problems, each naming its line."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [], ["the file is empty"]
    header = [h.strip().lower() for h in rows[0]]
    start, code_at, expires_at = (1, header.index("code") if "code" in header else 0,
                                  header.index("expires_at") if "expires_at" in header else None)
    if "code" not in header:
        start = 0  # no header line: every line is a code
    codes: list[tuple[str, datetime | None]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[start:], start=start + 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        code = row[code_at].strip() if code_at < len(row) else ""
        if not code or len(code) > MAX_CODE or any(not c.isprintable() or c.isspace() for c in code):
            problems.append(f"line {number}: a code must be 1 to {MAX_CODE} printable characters without spaces")
            continue
        when = None
        if expires_at is not None and expires_at < len(row) and row[expires_at].strip():
            try:
                when = datetime.fromisoformat(row[expires_at].strip().replace("Z", "+00:00"))
            except ValueError:
                problems.append(f"line {number}: expires_at is not an ISO-8601 time")
                continue
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if code in seen:
            problems.append(f"line {number}: {code!r} is in the file twice")
            continue
        seen.add(code)
        codes.append((code, when))
    return codes, problems


async def import_codes(session: AsyncSession, offer: str, codes: Sequence[tuple[str, datetime | None]],
                       low_stock: int | None = None) -> tuple[int, int]:
    """Add imported codes to the pool; returns (added, already there)."""
    await ensure_pool(session, offer, low_stock)
    if not codes:
        return 0, 0
    now = utcnow()
    insert = insert_for(dialect(session))(table(CouponCode)).on_conflict_do_nothing(index_elements=["code"])
    result = await session.execute(insert.returning(table(CouponCode).c.id), [
        {"offer": offer, "code": code, "state": "available", "expires_at": when, "created_at": now}
        for code, when in codes])
    added = len(result.all())
    return added, len(codes) - added


async def issued_for(session: AsyncSession, key: str) -> CouponCode | None:
    """The code this run's slot (`key`) got, if it got one."""
    return await session.scalar(select(CouponCode).where(CouponCode.assignment_key == key))


async def issue(session: AsyncSession, offer: str, key: str, customer_id: str, workflow_id: str,
                expires_in: timedelta | None, *, commit: bool = True) -> Issued:
    """The code for this run's slot (`key`): the one it got before, or a fresh one.
    Commits, unless `commit` is false: then the code is taken in the caller's
    transaction (a wheel's spin) and a clash on `key` is the caller's to handle. An
    empty or unknown pool issues none, with the reason."""
    earlier = await issued_for(session, key)
    if earlier is not None:
        return Issued(earlier.code, aware(earlier.expires_at), remaining=await available(session, offer))
    now = utcnow()
    query = (select(CouponCode.id, CouponCode.expires_at).where(
        CouponCode.offer == offer, CouponCode.state == "available", or_(CouponCode.expires_at.is_(None), CouponCode.expires_at > now))
        .order_by(CouponCode.id).limit(1))
    if dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    picked = (await session.execute(query)).first()
    if picked is None:
        pool = await session.get(CouponPool, offer)
        reason = f"coupon pool {offer!r} is empty" if pool is not None else f"no coupon pool {offer!r}"
        log.warning("%s: no code for %s", reason, key)
        return Issued(None, reason=reason)
    # The code's own expiry (an imported one) or the journey's, whichever comes first.
    own = aware(picked.expires_at)
    wanted = now + expires_in if expires_in is not None else None
    expires = min((t for t in (own, wanted) if t is not None), default=None)
    try:
        taken = await session.execute(
            update(CouponCode).where(CouponCode.id == picked.id, CouponCode.state == "available")
            .values(state="assigned", assignment_key=key, customer_id=customer_id, workflow_id=workflow_id,
                    assigned_at=now, expires_at=expires))
        if commit:
            await session.commit()
    except IntegrityError:  # the same slot, issued at the same moment by a retry: that one stands
        if not commit:
            raise
        await session.rollback()
        return await issue(session, offer, key, customer_id, workflow_id, expires_in)
    if rowcount(taken) != 1:  # taken by another writer between the read and the update
        if commit:
            await session.rollback()
        return await issue(session, offer, key, customer_id, workflow_id, expires_in, commit=commit)
    code = await session.scalar(select(CouponCode.code).where(CouponCode.id == picked.id))
    remaining = await available(session, offer)
    pool = await session.get(CouponPool, offer)
    if pool is not None and remaining < pool.low_stock:
        log.warning("coupon pool %r is running low: %d codes left (warning below %d)", offer, remaining,
                    pool.low_stock)
    return Issued(code, expires, remaining=remaining)


async def available(session: AsyncSession, offer: str) -> int:
    now = utcnow()
    return await session.scalar(select(func.count()).select_from(CouponCode).where(
        CouponCode.offer == offer, CouponCode.state == "available",
        or_(CouponCode.expires_at.is_(None), CouponCode.expires_at > now))) or 0


def redeemed_codes(message: Call) -> list[str]:
    """The codes an order or an applied coupon names (Segment's e-commerce spec)."""
    if message.type != "track":
        return []
    names = ("coupon",) if message.name == "Order Completed" else (
        ("coupon_id", "coupon_name") if message.name == "Coupon Applied" else ())
    found = []
    for name in names:
        value = message.properties.get(name)
        if isinstance(value, str) and 0 < len(value.strip()) <= MAX_CODE:
            found.append(value.strip())
    return found


async def redeem(session: AsyncSession, messages: Sequence[Call]) -> int:
    """Mark the codes these messages name as redeemed, if issued and not expired at the
    event's time, and record who redeemed each (`redeemed_by`). A code is single-use
    whoever brings it to the checkout, but only her own redemption is hers: another
    customer's is counted apart (`by_offer`: redeemed_by_others) and is never her
    conversion. Returns how many were redeemed."""
    redeemed = 0
    for m in messages:
        for code in redeemed_codes(m):
            at = m.timestamp if m.timestamp.tzinfo else m.timestamp.replace(tzinfo=UTC)
            result = await session.execute(
                update(CouponCode).where(CouponCode.code == code, CouponCode.state == "assigned",
                                     or_(CouponCode.expires_at.is_(None), CouponCode.expires_at >= at))
                .values(state="redeemed", redeemed_at=at, redeemed_by=m.customer_id,
                        order_id=str(m.properties.get("order_id") or "")[:255] or None)
                .returning(CouponCode.customer_id))
            for holder in result.scalars():
                redeemed += 1
                if holder != m.customer_id:
                    log.warning("code %s, issued to %s, was redeemed by %s", code, holder, m.customer_id)
    return redeemed


async def by_offer(session: AsyncSession) -> list[dict[str, Any]]:
    """Each pool's codes by state; assigned codes past their expiry count as expired
    (and are marked so)."""
    now = utcnow()
    await session.execute(update(CouponCode).where(and_(CouponCode.state == "assigned", CouponCode.expires_at < now))
                          .values(state="expired"))
    await session.commit()
    counts: dict[str, dict[str, int]] = {}
    for offer, state, n in (await session.execute(
            select(CouponCode.offer, CouponCode.state, func.count()).group_by(CouponCode.offer, CouponCode.state))).all():
        counts.setdefault(offer, {})[state] = n
    others = dict((await session.execute(select(CouponCode.offer, func.count()).where(
        CouponCode.state == "redeemed", CouponCode.redeemed_by != CouponCode.customer_id)
        .group_by(CouponCode.offer))).all())
    found = []
    for pool in (await session.scalars(select(CouponPool).order_by(CouponPool.offer))).all():
        states = {s: counts.get(pool.offer, {}).get(s, 0) for s in ("available", "assigned", "redeemed", "expired")}
        left = await available(session, pool.offer)
        found.append({"offer": pool.offer, **states, "redeemed_by_others": others.get(pool.offer, 0),
                      "usable": left, "low_stock": pool.low_stock, "running_low": left < pool.low_stock})
    return found


async def command(settings: Settings, args: argparse.Namespace) -> int:
    """`sojourn coupons generate|import|list`: the operator endpoints, from a shell."""
    import json
    import sys

    from sojourn.ground.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            if args.verb == "list":
                print(json.dumps(await by_offer(session), indent=2))
                return 0
            if args.verb == "generate":
                made = await generate(session, args.offer, args.count, prefix=args.prefix, length=args.length,
                                      low_stock=args.low_stock)
                await session.commit()
                print(f"{args.offer}: {made} codes generated, {await available(session, args.offer)} available")
                return 0
            with open(args.file, encoding="utf-8-sig", newline="") as f:
                codes, problems = parse_csv(f.read())
            if problems:
                print("\n".join(problems), file=sys.stderr)
                return 2
            added, present = await import_codes(session, args.offer, codes, args.low_stock)
            await session.commit()
            print(f"{args.offer}: {added} codes imported, {present} already there, "
                  f"{await available(session, args.offer)} available")
            return 0
    except PoolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
