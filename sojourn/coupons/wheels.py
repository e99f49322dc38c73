"""Spin-to-win wheels: the draw happens here, on the server, never in the browser.

A wheel is JSON that a marketer edits, content like a template (`wheels/<name>`:
sojourn/content/store.py; its first version is `templates/wheels/<name>.json`):

    {"coupon_days": 14,
     "slices": [{"id": "ten", "label": "10% off", "weight": 60, "offer": "wheel_10"},
                {"id": "free_gift", "label": "A free gift", "weight": 5, "offer": "wheel_gift", "cap": 50},
                {"id": "no_luck", "label": "Not this time", "weight": 35}]}

- **Weighted slices.** A spin lands on a slice with probability weight / total, among
  the slices still in play.
- **Caps.** A slice with `cap` wins at most that many spins, ever; once reached, it is
  out of play. The count is a row updated only while below the cap, so concurrent
  spins can't overshoot it (PostgreSQL locks the row; SQLite writers are serialized).
- **Prizes are coupons.** A slice with an `offer` gives a code from that offer's pool
  (sojourn/coupons/pools.py), valid `coupon_days`. A slice whose pool is empty is out of
  play too; a slice with no offer is a loss.
- **One spin per identity:** per wheel, one per customer and one per email address
  (unique rows): a second try by her gets her first outcome back; someone else's
  with an address that already spun is refused.

`spin` writes the spin, the slice's count and the coupon in the caller's transaction
(the store's, with the events that tell of it: api/routes/wheels.py).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.coupons import pools
from sojourn.ground.db import rowcount, upsert
from sojourn.ground.models import WheelSliceWins, WheelSpin, aware, utcnow

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


class WheelError(ValueError):
    """A wheel file that can't be used; the message says what is wrong in it."""


@dataclass(frozen=True)
class Slice:
    id: str
    label: str
    weight: float
    offer: str | None = None
    cap: int | None = None


@dataclass(frozen=True)
class Wheel:
    name: str
    slices: tuple[Slice, ...]
    coupon_days: int = 14

    def describe(self) -> dict[str, Any]:
        """What a storefront may know: the labels, never the weights or caps."""
        return {"wheel": self.name, "slices": [{"id": s.id, "label": s.label} for s in self.slices]}


@dataclass
class Outcome:
    slice: str | None
    label: str
    coupon_code: str | None = None
    coupon_expires_at: datetime | None = None
    repeat: bool = False  # her second try: the first spin's outcome
    reasons: list[str] = field(default_factory=list)  # slices that were out of play, and why

    @classmethod
    def of(cls, row: WheelSpin, repeat: bool = False) -> Outcome:
        return cls(row.slice, row.label, row.coupon_code, aware(row.coupon_expires_at), repeat)

    def answer(self) -> dict[str, Any]:
        return {"slice": self.slice, "label": self.label, "won": self.coupon_code is not None,
                "coupon": {"code": self.coupon_code,
                           "expires_at": self.coupon_expires_at.isoformat() if self.coupon_expires_at else None}
                if self.coupon_code else None, "repeat": self.repeat}


def valid_name(name: str) -> bool:
    return 0 < len(name) <= 64 and set(name) <= NAME_CHARS


def load(templates_dir: Path, name: str) -> Wheel | None:
    """The wheel `name` from its file, or None if there is no such file. WheelError if
    it is malformed. (The API reads the marketer's published wheel: `parse`.)"""
    if not valid_name(name):
        return None
    path = templates_dir / "wheels" / f"{name}.json"
    if not path.is_file():
        return None
    return parse(name, path.read_text())


def parse(name: str, source: str) -> Wheel:
    """A wheel from its JSON; WheelError naming what is wrong in it."""
    try:
        raw = json.loads(source)
        slices = tuple(_slice(item) for item in raw["slices"])
        days = raw.get("coupon_days", 14)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise WheelError(f"wheel {name!r}: {type(err).__name__}: {err}") from err
    if not slices or len({s.id for s in slices}) != len(slices) or sum(s.weight for s in slices) <= 0:
        raise WheelError(f"wheel {name!r}: slices need distinct ids and some weight")
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise WheelError(f"wheel {name!r}: coupon_days must be a whole number of days, at least 1")
    return Wheel(name, slices, days)


def _slice(item: dict[str, Any]) -> Slice:
    weight, cap, offer = item["weight"], item.get("cap"), item.get("offer")
    if not isinstance(item["id"], str) or not valid_name(item["id"]) or not isinstance(item["label"], str):
        raise ValueError(f"slice {item.get('id')!r}: id must be a short name and label a text")
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
        raise ValueError(f"slice {item['id']!r}: weight must be a number >= 0")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 0):
        raise ValueError(f"slice {item['id']!r}: cap must be a whole number >= 0")
    if offer is not None and not (isinstance(offer, str) and offer):
        raise ValueError(f"slice {item['id']!r}: offer must name a coupon pool")
    return Slice(item["id"], item["label"], float(weight), offer, cap)


async def earlier(session: AsyncSession, wheel: str, customer_id: str, email: str) -> WheelSpin | None:
    """Her spin of this wheel, or the one this address made (whoever made it)."""
    return await session.scalar(select(WheelSpin).where(
        WheelSpin.wheel == wheel, (WheelSpin.customer_id == customer_id) | (WheelSpin.email == email))
        .order_by(WheelSpin.customer_id != customer_id).limit(1))


async def no_prize(session: AsyncSession, wheel: Wheel, customer_id: str, email: str,
                   rng: random.Random | None = None) -> Outcome:
    """A losing spin for a customer whose address already spun for someone else: one
    of the wheel's slices without a prize, drawn by weight (or "Nothing left to win"),
    recorded under her id alone (the address stays the first spinner's), so that her
    retry repeats it like any spin. Nothing is counted and no coupon is taken."""
    rng = rng or secrets.SystemRandom()
    losing = [s for s in wheel.slices if s.weight > 0 and s.offer is None]
    chosen = rng.choices(losing, weights=[s.weight for s in losing])[0] if losing else None
    outcome = Outcome(chosen.id, chosen.label) if chosen else Outcome(None, "Nothing left to win")
    # The address column keeps one spin per address; hers holds a key no address can be
    # (an address always has an "@").
    stand_in = "#" + hashlib.sha256(customer_id.encode()).hexdigest()
    session.add(WheelSpin(wheel=wheel.name, customer_id=customer_id, email=stand_in,
                          slice=outcome.slice, label=outcome.label[:255], spun_at=utcnow()))
    await session.flush()
    return outcome


async def spin(session: AsyncSession, wheel: Wheel, customer_id: str, email: str,
               rng: random.Random | None = None) -> Outcome:
    """Draw, count the slice, take the coupon and record the spin, in the caller's
    transaction (it commits or rolls back all of it). A concurrent spin by the same
    customer or address fails the transaction on the unique rows."""
    rng = rng or secrets.SystemRandom()
    now = utcnow()
    in_play = [s for s in wheel.slices if s.weight > 0]
    outcome = Outcome(None, "Nothing left to win")
    while in_play:
        chosen = rng.choices(in_play, weights=[s.weight for s in in_play])[0]
        if not await _count_win(session, wheel.name, chosen):
            outcome.reasons.append(f"{chosen.id}: its cap of {chosen.cap} is reached")
            in_play.remove(chosen)
            continue
        if chosen.offer is None:
            outcome = Outcome(chosen.id, chosen.label, reasons=outcome.reasons)
            break
        issued = await pools.issue(session, chosen.offer, f"wheel:{wheel.name}:{customer_id}", customer_id,
                                     f"wheel:{wheel.name}", timedelta(days=wheel.coupon_days), commit=False)
        if issued.code is None:  # its pool is empty: the win is not counted, the slice is out
            await session.execute(update(WheelSliceWins).where(
                WheelSliceWins.wheel == wheel.name, WheelSliceWins.slice == chosen.id)
                .values(wins=WheelSliceWins.wins - 1))
            outcome.reasons.append(f"{chosen.id}: {issued.reason}")
            in_play.remove(chosen)
            continue
        outcome = Outcome(chosen.id, chosen.label, issued.code, issued.expires_at, reasons=outcome.reasons)
        break
    session.add(WheelSpin(wheel=wheel.name, customer_id=customer_id, email=email, slice=outcome.slice,
                          label=outcome.label[:255], coupon_code=outcome.coupon_code,
                          coupon_expires_at=outcome.coupon_expires_at, spun_at=now))
    await session.flush()  # the unique rows speak now, inside the transaction
    return outcome


async def _count_win(session: AsyncSession, wheel: str, chosen: Slice) -> bool:
    """One more win for the slice, unless that would pass its cap."""
    await session.execute(upsert(session, WheelSliceWins).values(wheel=wheel, slice=chosen.id, wins=0)
                          .on_conflict_do_nothing(index_elements=["wheel", "slice"]))
    query = update(WheelSliceWins).where(WheelSliceWins.wheel == wheel, WheelSliceWins.slice == chosen.id)
    if chosen.cap is not None:
        query = query.where(WheelSliceWins.wins < chosen.cap)
    counted = await session.execute(query.values(wins=WheelSliceWins.wins + 1))
    return rowcount(counted) == 1
