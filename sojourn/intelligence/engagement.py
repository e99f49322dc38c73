"""Her engagement history, per channel, from what Sojourn already keeps:

- **deliveries**: the send ledger's `sent` rows (email, push, webhook, on-site);
- **clicks**: `Message Clicked` (a tracked link in an email or a push, with its
  `channel`) and `Onsite Message Clicked` (sojourn.js);
- **opens**: `Email Opened` from the optional pixel (SOJOURN_EMAIL_OPEN_PIXEL). A machine
  open (Apple Mail Privacy Protection fetching every image, a security scanner
  following every link) is recorded with `machine: true` and never counts: not as a
  click, not as her latest engagement;
- on-site impressions (`Onsite Message Viewed`) count toward her latest engagement.

`best_channel` ranks the channels she can be reached on by clicks ÷ deliveries over
six months, smoothed toward a prior (a channel with one send and no click is not
"0%"), once there is enough data; ties go to the channel she engaged with last.

`best_channel(by="activity")` ranks them instead by how often she is active on each:
the days in six months on which she did something there herself. Email: a person's
open or a click in an email; push: a tap; on-site: a page she opened, a slot she saw or
tapped. Days, not events, so that a visit of twenty pages counts as much as an email
read once. Engagement asks "which channel's messages does she answer"; activity asks
"where does she spend her time", the guide's "the channel where she is most active":
a shopper who reads every email but rarely visits is reached by email, one who
browses daily and never opens mail, on the site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.models import Customer, Event, Message, PushSubscription, aware

WINDOW = timedelta(days=182)  # six months
# Smoothing: clicks + PRIOR_RATE * PRIOR_WEIGHT over deliveries + PRIOR_WEIGHT, i.e. a
# channel starts as if it had PRIOR_WEIGHT deliveries at a typical click rate.
PRIOR_RATE = 0.05
PRIOR_WEIGHT = 4.0
# Enough to choose on her data: this many deliveries, across this many channels.
MIN_MESSAGES = 3
MIN_CHANNELS = 2
CLICKS = ("Message Clicked", "Onsite Message Clicked")
ENGAGEMENTS = (*CLICKS, "Onsite Message Viewed", "Email Opened")

# What fetches every image of every mail on delivery, not a person reading it.
# Apple Mail Privacy Protection's proxy announces itself as a bare "Mozilla/5.0".
MACHINE_AGENTS = {"mozilla/5.0": "Apple Mail Privacy Protection"}
SCANNERS = ("barracuda", "mimecast", "proofpoint", "symantec", "messagelabs", "trendmicro", "forcepoint",
            "bot", "crawler", "spider", "python-requests", "curl/", "wget/", "go-http-client", "headlesschrome")
MACHINE_SECONDS = 2  # opened this soon after it was sent: fetched on delivery


def machine_open(user_agent: str | None, seconds_after_send: float | None) -> str | None:
    """Why this open is a machine's, or None for a person's."""
    agent = (user_agent or "").strip().lower()
    if not agent:
        return "no user agent"
    if agent in MACHINE_AGENTS:
        return MACHINE_AGENTS[agent]
    if any(mark in agent for mark in SCANNERS):
        return "security scanner or bot"
    if seconds_after_send is not None and seconds_after_send < MACHINE_SECONDS:
        return "opened on delivery"
    return None


@dataclass
class ChannelStats:
    deliveries: int = 0
    clicks: int = 0
    last_engaged_at: datetime | None = None

    def rate(self) -> float:
        return (self.clicks + PRIOR_RATE * PRIOR_WEIGHT) / (self.deliveries + PRIOR_WEIGHT)


@dataclass
class Choice:
    channel: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)


def _candidates(channels: list[str], reachable: set[str]) -> list[str] | Choice:
    """The channels she can be reached on, in the journey's order; or the choice
    already made when there are fewer than two."""
    if not channels:
        raise ValueError("best_channel needs at least one channel")
    candidates = [c for c in channels if c in reachable]
    if not candidates:
        return Choice(channels[0], "not reachable on any; the journey's first choice")
    if len(candidates) == 1:
        return Choice(candidates[0], "the only one she can be reached on")
    return candidates


def choose(channels: list[str], stats: dict[str, ChannelStats], reachable: set[str]) -> Choice:
    """The channel to use, and why. Pure: the activity reads the history, this decides."""
    candidates = _candidates(channels, reachable)
    if isinstance(candidates, Choice):
        return candidates
    known = [c for c in candidates if stats.get(c, ChannelStats()).deliveries > 0]
    total = sum(stats.get(c, ChannelStats()).deliveries for c in candidates)
    if total < MIN_MESSAGES or len(known) < MIN_CHANNELS:
        return Choice(candidates[0], f"too little history ({total} messages on {len(known)} channels); "
                                     "the journey's order")
    scores = {c: stats.get(c, ChannelStats()).rate() for c in candidates}
    never = datetime.min.replace(tzinfo=UTC)
    # Highest smoothed rate; then the most recent engagement; then the journey's order.
    best = max(candidates, key=lambda c: (round(scores[c], 9), stats.get(c, ChannelStats()).last_engaged_at or never,
                                          -candidates.index(c)))
    s = stats.get(best, ChannelStats())
    return Choice(best, f"{s.clicks} clicks of {s.deliveries} messages, smoothed {scores[best]:.0%}, "
                        "the best of " + ", ".join(f"{c} {scores[c]:.0%}" for c in candidates), scores)


async def history(session: AsyncSession, customer_id: str, now: datetime) -> dict[str, ChannelStats]:
    """Her deliveries, clicks and latest engagement per channel over the window."""
    since = now - WINDOW
    stats: dict[str, ChannelStats] = {}
    sent = await session.execute(
        select(Message.channel, func.count()).where(
            Message.customer_id == customer_id, Message.status == "sent", Message.created_at >= since)
        .group_by(Message.channel))
    for channel, count in sent:
        stats.setdefault(channel, ChannelStats()).deliveries += count
    rows = await session.execute(
        select(Event.name, Event.properties, Event.timestamp).where(
            Event.customer_id == customer_id, Event.type == "track", Event.name.in_(ENGAGEMENTS),
            Event.timestamp >= since))
    for name, props, at in rows:
        props = props if isinstance(props, dict) else {}
        if name == "Email Opened" and props.get("machine") is not False:
            continue  # a machine's, or not known to be a person's
        channel = "onsite" if name.startswith("Onsite") else "email" if name == "Email Opened" \
            else str(props.get("channel") or "")
        if not channel:
            continue
        entry = stats.setdefault(channel, ChannelStats())
        if name in CLICKS:
            entry.clicks += 1
        at = aware(at)
        entry.last_engaged_at = max(entry.last_engaged_at or at, at)
    return stats


async def reachable(session: AsyncSession, customer_id: str) -> set[str]:
    """The channels a send could reach her on now (consent and suppressions are the
    send's own checks): an email address, a push subscription; on-site always."""
    found = {"onsite", "webhook"}
    if await session.scalar(select(Customer.email).where(Customer.id == customer_id)):
        found.add("email")
    if await session.scalar(select(func.count()).select_from(PushSubscription).where(
            PushSubscription.customer_id == customer_id)):
        found.add("push")
    return found


def describe(stats: dict[str, ChannelStats]) -> dict[str, Any]:
    return {c: {"deliveries": s.deliveries, "clicks": s.clicks,
                "last_engaged_at": s.last_engaged_at.isoformat() if s.last_engaged_at else None}
            for c, s in sorted(stats.items())}


MIN_ACTIVE_DAYS = 2  # fewer days of activity in all: the journey's order decides


async def activity(session: AsyncSession, customer_id: str, now: datetime) -> dict[str, set[str]]:
    """The days (her own, UTC) on which she was active on each channel over the window."""
    since = now - WINDOW
    days: dict[str, set[str]] = {}
    rows = await session.execute(
        select(Event.type, Event.name, Event.properties, Event.timestamp).where(
            Event.customer_id == customer_id, Event.timestamp >= since,
            (Event.type == "page") | ((Event.type == "track") & Event.name.in_(ENGAGEMENTS))))
    for kind, name, props, at in rows:
        props = props if isinstance(props, dict) else {}
        if kind == "page" or (name or "").startswith("Onsite"):
            channel = "onsite"
        elif name == "Email Opened":
            if props.get("machine") is not False:
                continue  # a machine's, or not known to be a person's
            channel = "email"
        else:
            channel = str(props.get("channel") or "")
        if channel:
            days.setdefault(channel, set()).add(aware(at).date().isoformat())
    return days


def choose_by_activity(channels: list[str], days: dict[str, set[str]], reachable: set[str]) -> Choice:
    """The reachable channel she was active on on the most days; ties and too little
    activity go to the journey's order. Pure."""
    candidates = _candidates(channels, reachable)
    if isinstance(candidates, Choice):
        return candidates
    counts = {c: len(days.get(c, ())) for c in candidates}
    if sum(counts.values()) < MIN_ACTIVE_DAYS:
        return Choice(candidates[0], f"too little activity ({sum(counts.values())} active days); the journey's order")
    best = max(candidates, key=lambda c: (counts[c], -candidates.index(c)))
    return Choice(best, f"active on {counts[best]} days, the most of "
                        + ", ".join(f"{c} {counts[c]}" for c in candidates), {c: float(n) for c, n in counts.items()})
