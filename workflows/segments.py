"""Behavioural segments, declared in code: a name and a predicate over a customer's
facts (sojourn/ground/facts.py), with the predicates of sojourn/ground/segments.py. Pure, so the router, the
API and journey code can all evaluate them.

    NEVER_PURCHASED = Segment("never_purchased", lambda f: f.orders_count == 0)

Three ways a journey uses one:
- an entry condition, `@journey(enters_on="Product Viewed", only_for=NEVER_PURCHASED)`:
  the router admits the entry only if she was in the segment as of that event;
- entry and exit on a change of membership, `enters_on=Joins(FIRST_TIME_BUYER)`,
  `exits_on=Leaves(NEVER_PURCHASED)`: driven by the event that made her join or leave;
- in a story, `if await self.in_segment(NEVER_PURCHASED): ...`, on fresh facts.
Operators: `GET /v1/segments` gives each segment's size.

A segment that changes as time passes ("no order in 60 days") is declared `timed`: its
test also gets the time it is evaluated at. Events re-evaluate it like any other; a
Temporal Schedule (workflows/upkeep/segment_sweep.py) finds who joined or left as time passed.
"""

from __future__ import annotations

from datetime import timedelta

from sojourn.ground.segments import Joins, Leaves, Segment  # noqa: F401 - journeys may take them from here too

FIRST_VISIT = timedelta(minutes=30)  # a first-time visitor: everything she did fits in one visit


NEVER_PURCHASED = Segment("never_purchased", lambda f: f.orders_count == 0, "has never completed an order")
FIRST_TIME_BUYER = Segment("first_time_buyer", lambda f: f.orders_count == 1, "has completed exactly one order")
NOT_SUBSCRIBED = Segment("not_subscribed", lambda f: f.newsletter_subscribed is not True,
                         "is not subscribed to the newsletter")
FIRST_TIME_VISITOR = Segment(
    "first_time_visitor",
    lambda f: f.orders_count == 0 and f.first_seen_at is not None and f.last_seen_at is not None
    and f.last_seen_at - f.first_seen_at <= FIRST_VISIT,
    "seen only during her first visit (30 minutes) and never bought",
)

PROSPECT = Segment("prospect", lambda f: f.newsletter_subscribed is not True and f.orders_count == 0,
                   "is not subscribed to the newsletter and has never completed an order")
NOT_LOYALTY_MEMBER = Segment("not_loyalty_member", lambda f: f.loyalty_member_at is None,
                             "is not a member of the loyalty programme (no Loyalty Signed Up, no loyalty_member trait)")
HAS_PURCHASED = Segment("has_purchased", lambda f: f.orders_count >= 1, "has completed an order")
GUEST_BUYER = Segment("guest_buyer", lambda f: f.orders_count >= 1 and f.signed_up_at is None,
                      "has ordered without an account")
NO_APP = Segment("no_app", lambda f: f.app_installed_at is None, "has not installed the app")

LAPSE = timedelta(days=60)
LAPSED = Segment(
    "lapsed",
    lambda f, now: f.last_order_at is not None and now - f.last_order_at > LAPSE,
    "has ordered, but not in the last 60 days",
    timed=True,
)

# Her likelihood to buy (sojourn/intelligence/likelihood.py), as its last run scored her:
# empty while there is no model. A re-score that carries her across a line is an
# "Audience Entered" or "Audience Exited" event, so a journey can enter on `Joins(LIKELY_BUYER)`.
LIKELY = 0.5
UNLIKELY = 0.1
LIKELY_BUYER = Segment("likely_buyer", lambda f: f.purchase_likelihood is not None and f.purchase_likelihood >= LIKELY,
                       "the likelihood model gives her at least a 50% chance of an order within its horizon")
UNLIKELY_BUYER = Segment(
    "unlikely_buyer", lambda f: f.purchase_likelihood is not None and f.purchase_likelihood < UNLIKELY,
    "the likelihood model gives her under a 10% chance of an order within its horizon")

# The guide's funnels; GET /v1/segments reports these.
SEGMENTS: tuple[Segment, ...] = (NEVER_PURCHASED, FIRST_TIME_BUYER, HAS_PURCHASED, GUEST_BUYER, NOT_SUBSCRIBED,
                                 FIRST_TIME_VISITOR, NO_APP, LAPSED, LIKELY_BUYER, UNLIKELY_BUYER)
