"""Behavioural segments, declared in code: a name and a predicate over a customer's
facts (activities/contracts.py: Facts, kept by the pipeline). Pure, so the router, the
API and journey code can all evaluate them.

    NEVER_PURCHASED = Segment("never_purchased", lambda f: f.orders_count == 0)

In a story: `if await self.in_segment(NEVER_PURCHASED): ...` (on fresh facts).
Operators: `GET /v1/segments` gives each segment's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from temporalio import workflow

from workflows.events import holds

with workflow.unsafe.imports_passed_through():
    from activities.contracts import Facts

FIRST_VISIT = timedelta(minutes=30)  # a first-time visitor: everything she did fits in one visit


@dataclass(frozen=True)
class Segment:
    name: str
    test: Callable[[Facts], bool]
    description: str = ""

    def contains(self, facts: Facts) -> bool:
        """Membership; a predicate that raises on odd facts means "not in it"."""
        return holds(lambda: self.test(facts))


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

# The guide's funnels; GET /v1/segments reports these.
SEGMENTS: tuple[Segment, ...] = (NEVER_PURCHASED, FIRST_TIME_BUYER, NOT_SUBSCRIBED, FIRST_TIME_VISITOR)
