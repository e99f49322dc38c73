"""What a journey hands an activity and what it gets back.

This module is imported by workflow code, so it holds plain dataclasses and names
only: no I/O library may be imported here. Every activity takes one dataclass, so
fields can be added later with defaults without breaking running journeys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEND_EMAIL = "send_email"
SEND_PUSH = "send_push"
SEND_WEBHOOK = "send_webhook"
SEND_ONSITE = "send_onsite"
RECORD_CONVERSION = "record_conversion"
LOAD_PROFILE = "load_profile"
RECORD_ENTRY = "record_entry"
RECORD_ASSIGNMENT = "record_assignment"
GIVE_UP_SEND = "give_up_send"
LOAD_FACTS = "load_facts"
SWEEP_SEGMENTS = "sweep_segments"
RECORD_END = "record_end"
ISSUE_COUPON = "issue_coupon"
WITHDRAW_ONSITE = "withdraw_onsite"
CHOOSE_CHANNEL = "choose_channel"
REFRESH_RECOMMENDATIONS = "refresh_recommendations"
REFRESH_LIKELIHOOD = "refresh_likelihood"
BEST_TIME = "best_time"
CHANGE_AUDIENCE = "change_audience"
RECOMMEND = "recommend"
REPLENISH_DAYS = "replenish_days"
RECORD_EVENT = "record_event"
SYNC_AUDIENCES = "sync_audiences"


@dataclass
class Send:
    """One send of one journey step. `key` is stable across activity retries and
    worker restarts (workflow id, first run id, step), and the ledger is keyed by it."""

    key: str
    customer_id: str
    journey: str
    workflow_id: str
    step: str
    template: str
    data: dict[str, Any] = field(default_factory=dict)
    topic: str = "marketing"  # marketing | transactional


@dataclass
class SendGiveUp:
    """A send that ran out of attempts: its ledger rows end in a final state."""

    key: str
    detail: str


@dataclass
class SendResult:
    status: str  # sent | skipped | failed | unknown (died while sending; not resent)
    detail: str = ""
    already_done: bool = False  # True when the ledger already had this key as done
    channel: str = ""


@dataclass
class ConversionRecord:
    journey: str
    workflow_id: str
    customer_id: str
    goal_event: str
    event_message_id: str
    entered_at: str  # ISO-8601, workflow time
    converted_at: str


@dataclass
class ProfileRequest:
    customer_id: str


@dataclass
class Profile:
    customer_id: str
    # Never filled since #26.11 (her contact data stays out of the engine); kept for
    # the histories recorded before.
    email: str | None = None
    first_name: str | None = None
    timezone: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    known: bool = False  # False when no profile exists yet
    # The first anonymous id she was seen with (her first browser), else her id: what
    # experiments assign by, so a visitor keeps her variant once she signs in.
    visitor_id: str | None = None


@dataclass
class EntryRecord:
    journey: str
    customer_id: str
    journey_key: str
    workflow_id: str
    run_id: str
    entry_message_id: str
    entered_at: str


@dataclass
class AssignmentRecord:
    journey: str
    experiment: str
    customer_id: str
    workflow_id: str
    variant: str
    assigned_at: str


@dataclass
class FactsRequest:
    customer_id: str


@dataclass
class EndRecord:
    """The story ended its run early, with a reason (Journey.end)."""

    workflow_id: str
    run_id: str  # the first run's id, as in EntryRecord
    reason: str
    ended_at: str  # ISO-8601, workflow time
    # The entry event: how an entry the router recorded (no run id of its own) is found.
    entry_message_id: str | None = None


@dataclass
class SweepRequest:
    """Who joined or left a timed segment as time passed, up to `as_of` (ISO-8601: the
    sweep workflow's own time, so a retried activity sweeps to the same instant)."""

    as_of: str


@dataclass
class SweepResult:
    customers: int = 0  # customers read
    joined: dict[str, int] = field(default_factory=dict)  # segment -> customers
    left: dict[str, int] = field(default_factory=dict)


@dataclass
class CouponRequest:
    offer: str
    key: str  # the run and slot: at most one code per key, whatever the retries
    customer_id: str
    workflow_id: str
    expires_in_seconds: float | None = None
    # The channel the code is for ("email", "push"): none is taken from the pool unless
    # a send on it can reach her (an address not suppressed, consent, a browser).
    to_reach: str | None = None


@dataclass
class CouponIssued:
    offer: str
    code: str | None  # None: the pool had none (reason says why)
    expires_at: str | None = None  # ISO-8601
    reason: str = ""
    remaining: int = 0


@dataclass
class OnsiteWithdrawal:
    """Take down the on-site messages a run left, once it exits or ends."""

    run_key: str  # "<workflow id>/<first run id>/": the prefix of its sends' keys


@dataclass
class ChannelRequest:
    """Which of `channels` (in the journey's order of preference) to use for her."""

    customer_id: str
    channels: list[str]
    by: str = "engagement"  # or "activity": where she is most active (sojourn/intelligence/engagement.py)


@dataclass
class ChannelChoice:
    channel: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)  # smoothed click rate per candidate


@dataclass
class LikelihoodResult:
    """What a likelihood run did: trained (and scored) or no model, and why."""

    status: str = ""
    reason: str = ""
    scored: int = 0
    auc: float | None = None
    recency_auc: float | None = None
    joined: int = 0  # customers the new scores carried into a watched segment
    left: int = 0


@dataclass
class RefreshResult:
    """What a recommendations refresh scored."""

    orders: int = 0
    relations: int = 0
    popular: int = 0
    products: int = 0
    activity_events: int = 0  # events in the shop's activity-by-hour histogram


@dataclass
class BestTimeRequest:
    """When to reach her within `within_seconds` of `now`, outside `quiet_hours`."""

    customer_id: str
    now: str  # ISO-8601: the workflow's time
    within_seconds: float
    quiet_hours: str | None = None
    default_timezone: str = "UTC"


@dataclass
class BestTime:
    at: str  # ISO-8601
    reason: str


@dataclass
class AudienceChange:
    """A journey puts her in an ad audience, or takes her out."""

    audience: str
    customer_id: str
    member: bool
    reason: str = ""


@dataclass
class AudienceSyncResult:
    added: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)  # destinations not allowed, and why


@dataclass
class RecommendRequest:
    """Her recommendations of a kind (sojourn/intelligence/catalog.py); `seeds` are
    products to start from (her cart, an order)."""

    customer_id: str
    kind: str
    seeds: list[str] = field(default_factory=list)
    limit: int = 4


@dataclass
class Recommended:
    products: list[dict[str, Any]] = field(default_factory=list)  # product_id, name, price, url, image_url, category


@dataclass
class ProductsRequest:
    product_ids: list[str] = field(default_factory=list)


@dataclass
class ReplenishDays:
    """How many days each product lasts, as the catalog (the product feed) says."""

    days: dict[str, int] = field(default_factory=dict)


@dataclass
class EventRecord:
    """An event a journey records for a customer (hers or another's: the friend's order
    credited to the referrer), stored and routed like any other. `message_id` is the
    run's and step's, so a retried activity stores it once."""

    message_id: str
    customer_id: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    timestamp: str = ""  # ISO-8601: the workflow's time
