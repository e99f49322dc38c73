"""What each journey's main story costs on the engine stays within its budget
(tests/support/actions.py), counted from its recorded history as bench/actions.py
counts it; and every registered journey has a budgeted story."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.actions import HISTORIES, cost, of_file
from tests.support.actions import BUDGET
from workflows.registry import JOURNEYS


@pytest.mark.parametrize("name", sorted(BUDGET))
def test_each_story_keeps_to_its_budget(name: str) -> None:
    spent = of_file(HISTORIES / f"{name}.json")
    assert spent.actions <= BUDGET[name], f"{name}: {spent.actions} actions, budget {BUDGET[name]} ({spent})"
    assert spent.minimal >= 2  # a start and a send at least (the referral reward waits for nothing)


def test_the_guides_journeys_are_budgeted() -> None:
    guide = ("cart_abandonment", "first_purchase_incentive", "lead_capture", "loyalty_signup_abandonment", "referral_ask",
             "post_purchase", "product_discovery", "account_registration", "registration_page_test", "app_banner_test")
    for name in guide:
        assert any(story.startswith(name) for story in BUDGET), name
    assert {j.spec.name for j in JOURNEYS} >= set(guide)


def test_the_count_is_the_documented_one() -> None:
    events = [{"eventType": t} for t in ("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
                                         "EVENT_TYPE_TIMER_STARTED", "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
                                         "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
                                         "EVENT_TYPE_WORKFLOW_EXECUTION_TIME_SKIPPING_TRANSITIONED")]
    events += [{"eventType": "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED",
                "activityTaskScheduledEventAttributes": {"activityType": {"name": n}}} for n in ("send_email", "record_entry")]
    counted = cost("x", {"events": events})
    assert (counted.actions, counted.minimal, counted.events, counted.upserts) == (6, 4, 7, 1)
    assert counted.bookkeeping == ["record_entry"]
    assert Path(HISTORIES).is_dir()
