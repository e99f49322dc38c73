"""Tables. Alembic migrations (migrations/) are the only thing that creates them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, cast, overload

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """A stored time as UTC: SQLite hands `DateTime(timezone=True)` back without its zone."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType}


class Customer(Base):
    """A profile, upserted by `identify`. `traits` keeps every trait, known or not."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    anonymous_id: Mapped[str | None] = mapped_column(String(255), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str | None] = mapped_column(String(64))
    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # A message carried this id as its userId: a known customer, never merged into
    # another by an identify or alias (sojourn/identity/linking.py).
    known: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Facts: kept by the pipeline's store from the events, in the events' transaction
    # (sojourn/ground/facts.py says which event changes which).
    first_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    platform: Mapped[str | None] = mapped_column(String(32))
    orders_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revenue: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    first_order_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_order_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_order_products: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Written by the likelihood model's runs (sojourn/intelligence/likelihood.py), never by events.
    purchase_likelihood: Mapped[float | None] = mapped_column(Float)
    recently_viewed: Mapped[list[str]] = mapped_column(JSONType, default=list)
    signed_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    newsletter_subscribed: Mapped[bool | None] = mapped_column(Boolean)
    app_installed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    loyalty_member_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AnonymousClaim(Base):
    """An anonymous id whose token was handed out, once, to the first browser that
    asked (api/proof.py): the visitor's proof until she signs in."""

    __tablename__ = "anonymous_claims"

    anonymous_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Identity(Base):
    """An earlier id (an anonymous id, an alias's previousId) linked to the customer she
    turned out to be (sojourn/identity/linking.py). Events that carry only that id are hers."""

    __tablename__ = "identities"

    alias_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(255), index=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PushSubscription(Base):
    """A browser's PushSubscription.toJSON(), owned by one customer."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(255))
    auth: Mapped[str] = mapped_column(String(255))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Event(Base):
    """Every accepted message, once per messageId: the pipeline's durable queue.

    `route_state`: `pending` until the router has delivered it to the journeys that
    want it (`routed`); an event that keeps failing for a reason other than Temporal
    being unreachable is retried `attempts` times with backoff, then parked `dead`
    with `last_error` for an operator to retry or `discard`. A router holds an event
    while `lease_owner`/`lease_until` say so; an expired lease is free to take."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_route_queue", "route_state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    anonymous_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    route_state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Her membership of the segments journeys watch, as of this event (the store
    # evaluates it in the event's transaction): {"in": [...], "joined": [...], "left": [...]}.
    segments: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # "server" (a server key: the shop's backend) or "browser" (a write key); NULL before 0019.
    source: Mapped[str | None] = mapped_column(String(16))


class SegmentSweep(Base):
    """How far the Schedule has swept a timed segment (activities/segment_sweep.py): the next
    sweep looks for customers whose membership changed between this and its own time."""

    __tablename__ = "segment_sweeps"

    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    swept_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JourneyRun(Base):
    """The router's record of the runs it started: the entry decision, made once per
    entry event (unique per journey and event), and whether the run is still active
    as far as the router knows. Events that are not entries go only to active runs;
    a run found ended (Temporal answers NOT_FOUND) gets `ended_at`."""

    __tablename__ = "journey_runs"
    __table_args__ = (
        UniqueConstraint("journey", "entry_message_id"),
        Index("ix_journey_runs_customer", "customer_id", "journey", "journey_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    journey: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str] = mapped_column(String(255))
    journey_key: Mapped[str] = mapped_column(String(255), default="")
    workflow_id: Mapped[str] = mapped_column(String(512))
    entry_message_id: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(Base):
    """The message ledger: one row per send, keyed by a step's idempotency key.

    A send activity claims its key before it talks to a provider and marks it `sent`
    after; a retry that finds `sent` returns the recorded outcome instead of sending."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(512), unique=True)
    customer_id: Mapped[str] = mapped_column(String(255), index=True)
    journey: Mapped[str] = mapped_column(String(128))
    workflow_id: Mapped[str] = mapped_column(String(512))
    step: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(32), default="marketing", server_default="marketing")
    recipient: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))  # queued | sending | sent | skipped | failed | bounced | unknown
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The content it claimed (sojourn/content/store.py): its template (`email/cart_abandonment`),
    # the revision it renders at on every retry, and the template's version there.
    content_name: Mapped[str | None] = mapped_column(String(128))
    content_revision: Mapped[int | None] = mapped_column(Integer)
    content_version: Mapped[int | None] = mapped_column(Integer)


class MessageAttempt(Base):
    """Every attempt at a send, with what the provider answered (SMTP reply, push
    service status, webhook response) or why it was skipped."""

    __tablename__ = "message_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(512), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    response: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Conversion(Base):
    """A goal reached inside a journey's attribution window."""

    __tablename__ = "conversions"
    __table_args__ = (UniqueConstraint("workflow_id", "event_message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    journey: Mapped[str] = mapped_column(String(128), index=True)
    workflow_id: Mapped[str] = mapped_column(String(512))
    customer_id: Mapped[str] = mapped_column(String(255), index=True)
    goal_event: Mapped[str] = mapped_column(String(255))
    event_message_id: Mapped[str] = mapped_column(String(255))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    converted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AppSecret(Base):
    """Secrets generated on first run (the VAPID key pair), shared by API and workers."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


Index("ix_messages_workflow_step", Message.workflow_id, Message.step)
# The frequency cap counts a customer's recent sends per channel.
Index("ix_messages_cap", Message.customer_id, Message.channel, Message.created_at)


class JourneyEntry(Base):
    """One row per journey run, written when the customer enters. Re-entry policies
    (once, cooldown) and the KPIs' denominators read it."""

    __tablename__ = "journey_entries"
    __table_args__ = (
        UniqueConstraint("workflow_id", "run_id"),
        Index("ix_journey_entries_lookup", "journey", "customer_id", "journey_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    journey: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str] = mapped_column(String(255))
    journey_key: Mapped[str] = mapped_column(String(255), default="")
    workflow_id: Mapped[str] = mapped_column(String(512))
    run_id: Mapped[str] = mapped_column(String(64))
    entry_message_id: Mapped[str] = mapped_column(String(255))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The story ended the run early (Journey.end): no entry for the KPIs' denominators.
    ended_early_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(255))


def planned_run_id(entry_message_id: str) -> str:
    """The run id of an entry the router records with the run it plans, before Temporal
    gives the run one: one per entry event, never a Temporal run id (those are UUIDs)."""
    return "entry:" + hashlib.sha256(entry_message_id.encode("utf-8", "surrogatepass")).hexdigest()[:56]


class ExperimentAssignment(Base):
    """Which variant of an A/B experiment a customer got in a journey run."""

    __tablename__ = "experiment_assignments"
    __table_args__ = (UniqueConstraint("workflow_id", "experiment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    journey: Mapped[str] = mapped_column(String(128), index=True)
    experiment: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str] = mapped_column(String(255))
    workflow_id: Mapped[str] = mapped_column(String(512))
    variant: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Her choices about ads (channel "ads"), named as Google's consent mode names them:
# recorded by sojourn/identity/consent.py, told to ad platforms by sojourn/audiences/.
AD_TOPICS = ("ad_user_data", "ad_personalization")


class Consent(Base):
    """A customer's choice per channel and topic. No row means the default: marketing
    is opt-out (subscribed until she unsubscribes); transactional is always allowed."""

    __tablename__ = "consents"

    customer_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscribed: Mapped[bool] = mapped_column()
    source: Mapped[str] = mapped_column(String(64))  # one-click | page | api
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Suppression(Base):
    """Addresses no send may reach: hard bounces and complaints."""

    __tablename__ = "suppressions"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    address: Mapped[str] = mapped_column(String(512), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))  # bounce | complaint
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OnsiteMessage(Base):
    """A message for the storefront to show (greeting bar, smart banner, referral
    prompt), fetched by placement and acknowledged once shown or dismissed."""

    __tablename__ = "onsite_messages"
    __table_args__ = (Index("ix_onsite_lookup", "customer_id", "placement"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(512), unique=True)
    customer_id: Mapped[str] = mapped_column(String(255))
    placement: Mapped[str] = mapped_column(String(64))
    journey: Mapped[str] = mapped_column(String(128))
    step: Mapped[str] = mapped_column(String(128))
    content: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Its run exited or ended: the storefront no longer shows it.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What sojourn.js reported (api/routes/onsite.py).
    impressions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class OnsiteView(Base):
    """One impression, click or dismissal of an on-site message: the log each
    placement's frequency is counted from."""

    __tablename__ = "onsite_views"
    __table_args__ = (Index("ix_onsite_views_frequency", "customer_id", "placement", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(255))
    placement: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # viewed | clicked | dismissed
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CouponPool(Base):
    """An offer's pool of coupon codes (sojourn/coupons/pools.py)."""

    __tablename__ = "coupon_pools"

    offer: Mapped[str] = mapped_column(String(64), primary_key=True)
    low_stock: Mapped[int] = mapped_column(Integer, default=50)  # warn when fewer are left
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CouponCode(Base):
    """One code: available -> assigned (to a run's slot) -> redeemed, or expired."""

    __tablename__ = "coupons"
    __table_args__ = (Index("ix_coupons_pick", "offer", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offer: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="available")
    assignment_key: Mapped[str | None] = mapped_column(String(512), unique=True)  # run and slot
    customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    workflow_id: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_by: Mapped[str | None] = mapped_column(String(255))
    order_id: Mapped[str | None] = mapped_column(String(255))


class WheelSpin(Base):
    """One spin of a spin-to-win wheel (sojourn/coupons/wheels.py): one per wheel and customer,
    and one per wheel and email, whoever she says she is."""

    __tablename__ = "wheel_spins"
    __table_args__ = (UniqueConstraint("wheel", "customer_id"), UniqueConstraint("wheel", "email"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    wheel: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320))  # lower-cased: one address, one spin
    slice: Mapped[str | None] = mapped_column(String(64))  # None: nothing left to win
    label: Mapped[str] = mapped_column(String(255))
    coupon_code: Mapped[str | None] = mapped_column(String(64))
    coupon_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    spun_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WheelSliceWins(Base):
    """How many spins each slice has won: a capped slice stops at its cap."""

    __tablename__ = "wheel_slice_wins"

    wheel: Mapped[str] = mapped_column(String(64), primary_key=True)
    slice: Mapped[str] = mapped_column(String(64), primary_key=True)
    wins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Product(Base):
    """The catalog: from the product feed, or as the shop's backend's events describe it
    (the latest name, price, link and image each product was viewed or added with;
    never a browser's: sojourn/intelligence/catalog.py)."""

    __tablename__ = "products"

    product_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    price: Mapped[float | None] = mapped_column(Float)
    url: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(255))
    # How many days one lasts (a cream, a serum): post-purchase's replenishment reminder.
    replenish_days: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set by the product feed (PUT /v1/products/{id}, a server key): its fields then
    # come only from the feed, never from events.
    fed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProductRelation(Base):
    """A product's top companions of one kind (bought_together, also_viewed), as the
    last refresh scored them (sojourn/intelligence/recommendations.py)."""

    __tablename__ = "product_relations"
    __table_args__ = (Index("ix_product_relations_lookup", "kind", "product_id", "rank"),)

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    related_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)  # Jaccard
    lift: Mapped[float] = mapped_column(Float)
    together: Mapped[int] = mapped_column(Integer)


class PopularProduct(Base):
    """The most ordered products: the fallback."""

    __tablename__ = "popular_products"

    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(String(255))
    orders: Mapped[int] = mapped_column(Integer)


class ActivityHour(Base):
    """The shop's activity by hour of the week (0 = Monday 00:00), each shopper in her
    own time zone: what her best time is smoothed toward (sojourn/intelligence/besttime.py)."""

    __tablename__ = "activity_hours"

    hour_of_week: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    events: Mapped[int] = mapped_column(Integer)


class AudienceMember(Base):
    """Whether a journey wants her in an ad audience (sojourn/audiences/members.py)."""

    __tablename__ = "audience_members"

    audience: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    member: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AudienceSync(Base):
    """What an ad platform (a destination) was last told about her in an audience."""

    __tablename__ = "audience_syncs"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    audience: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    member: Mapped[bool] = mapped_column(Boolean)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def table(model: type[Base]) -> Table:
    """A model's table, typed as one (SQLAlchemy types `__table__` as any FromClause)."""
    return cast(Table, model.__table__)


class Story(Base):
    """One of the marketer's home-page stories (the guide's InStory): a campaign, a
    product or a collection, shown at the top of the home page, ordered for each
    shopper by the categories she views (sojourn/intelligence/stories.py)."""

    __tablename__ = "stories"

    story_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))  # campaign | product | collection
    url: Mapped[str] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(255))  # what it is about, to order it by her interests
    position: Mapped[int] = mapped_column(Integer, default=0)  # the marketer's order, among equals
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ContentVersion(Base):
    """One version of one piece of content (`email/cart_abandonment`: its subject, HTML
    and text; `onsite/registration_hero`, `wheels/first_order`: JSON), never changed
    once written. Version 1 is the file in templates/ (sojourn/content/store.py)."""

    __tablename__ = "content_versions"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    parts: Mapped[dict[str, Any]] = mapped_column()  # part -> source
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))  # files | marketer | operator
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ContentDraft(Base):
    """The marketer's draft of a piece of content: one per name, edited in place,
    previewed and tested; publishing turns it into the next version."""

    __tablename__ = "content_drafts"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    parts: Mapped[dict[str, Any]] = mapped_column()
    based_on: Mapped[int | None] = mapped_column(Integer)  # the version it was started from
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ContentPublication(Base):
    """Which version of a piece of content is live from when: a publish or a rollback.
    Its id is the content revision: what was live at revision R is, per name, the last
    publication with an id no greater than R. A send claims a revision and keeps it."""

    __tablename__ = "content_publications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # publish | rollback
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LikelihoodModel(Base):
    """One run of the likelihood model (sojourn/intelligence/likelihood.py): trained, with
    its hold-out metrics beside the baselines, or no model and why."""

    __tablename__ = "likelihood_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    horizon_days: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # trained | no model
    reason: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LikelihoodScore(Base):
    """Her chance of an order within the model's horizon, as of its last run."""

    __tablename__ = "likelihood_scores"

    customer_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    model_id: Mapped[int] = mapped_column(Integer)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
