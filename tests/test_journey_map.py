"""Each journey's map (sojourn/analytics/journey_map.py): read from its code, it holds
every step its recorded runs took; every registered journey draws on the dashboard in
Chromium, and the numbers on a step are the stats API's."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from sojourn.analytics import journey_map
from sojourn.ground.settings import Settings
from tests.conftest import MARKETER_KEY, OPERATOR_KEY, SERVER_KEY, basic
from tests.support.browser import chromium, served_api, served_with_worker
from workflows.registry import JOURNEYS

HISTORIES = Path(__file__).resolve().parent / "histories"
KIT_STEPS = {"entering", "exited", "completed", "ended_early", "failed"}  # the kit's own, on every run


def recorded_steps(path: Path) -> tuple[str, set[str]]:
    """A recorded run's workflow type, and the steps it took: each JourneyStep it showed
    and each send's step."""
    events = json.loads(path.read_text())["events"]
    kind = events[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
    steps: set[str] = set()
    for event in events:
        if event["eventType"] == "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            fields = event["upsertWorkflowSearchAttributesEventAttributes"]["searchAttributes"]["indexedFields"]
            if "JourneyStep" in fields:
                steps.add(json.loads(base64.b64decode(fields["JourneyStep"]["data"])))
        elif event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            attributes = event["activityTaskScheduledEventAttributes"]
            if attributes["activityType"]["name"].startswith("send_"):
                payload = attributes["input"]["payloads"][0]
                steps.add(json.loads(base64.b64decode(payload["data"]))["step"])
    return kind, steps - KIT_STEPS


def test_the_map_holds_every_step_the_recorded_runs_took() -> None:
    by_type = {j.spec.workflow_type: j for j in JOURNEYS}
    covered: dict[str, set[int]] = {}
    checked = 0
    for path in sorted(HISTORIES.glob("*.json")):
        kind, steps = recorded_steps(path)
        journey = by_type.get(kind)
        if journey is None:
            continue  # a test journey's run
        nodes = journey_map.steps(journey_map.read(journey, journey.spec.describe()))
        for step in steps:
            # A send's own states: "<step>: sending" and "<step>: quiet hours" are its node's.
            bare = step.rsplit(": ", 1)[0] if step.endswith((": sending", ": quiet hours")) else step
            found = [i for i, node in enumerate(nodes) if journey_map.matches(node, bare)]
            assert found, f"{path.name}: its run took {step!r}, which {journey.spec.name}'s map lacks"
            covered.setdefault(journey.spec.name, set()).update(found)
            checked += 1
    assert checked > 100 and len(covered) >= 12, (checked, sorted(covered))


@pytest.mark.parametrize("journey", JOURNEYS, ids=lambda j: j.spec.name)
def test_every_journey_reads_and_draws(journey: Any) -> None:
    nodes = journey_map.read(journey, journey.spec.describe())
    assert nodes[0].kind == "entry"
    everything = [n for top in nodes for n in top.walk()]
    # Every journey of the guide sends something, or (home stories, which the shop's page
    # asks for) waits for what she does.
    assert any(n.kind in ("send", "wait") for n in everything)
    drawn = ET.fromstring(journey_map.svg(journey.spec.name, nodes))  # well-formed SVG
    boxes = drawn.findall(".//{http://www.w3.org/2000/svg}g")
    assert len(boxes) == len(everything)


def test_a_branch_no_one_took_is_drawn_dashed() -> None:
    [cart] = [j for j in JOURNEYS if j.spec.name == "cart_abandonment"]
    nodes = journey_map.read(cart, cart.spec.describe())
    stats = {"funnel": [{"stage": "push_1h", "step": True, "count": 3, "sends": {"sent": 3}, "clicked": 1}]}
    drawn = journey_map.svg("cart_abandonment", journey_map.with_numbers(nodes, stats, {}))
    assert "not taken yet" in drawn and 'data-reached="3"' in drawn and 'data-clicked="1"' in drawn


@pytest.fixture
async def dashboard(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[str]:
    """A shop that keeps steps searchable: the map counts who waits at each wait."""
    async with served_with_worker(env.client, settings, sessions, searchable_steps=True) as origin:
        yield origin


async def test_where_steps_are_not_searchable_the_map_counts_no_one_waiting(
        env: WorkflowEnvironment, settings: Settings) -> None:
    async with served_api(env.client, settings) as origin, httpx.AsyncClient(base_url=origin) as http:
        answer = (await http.get("/v1/journeys/cart_abandonment/map",
                                 headers={"Authorization": f"Bearer {MARKETER_KEY}"})).json()
    assert answer["waiting_counted"] is False
    assert [n["numbers"] for n in answer["nodes"] if n["kind"] == "wait"] and \
        all("waiting now" not in n["numbers"] for n in answer["nodes"]), "no count that would read as zero"
    assert "data-waiting-now" not in answer["svg"]


async def test_every_map_draws_in_chromium_with_the_stats_apis_numbers(dashboard: str, customer_id: str) -> None:
    marketer = {"Authorization": f"Bearer {MARKETER_KEY}"}
    async with httpx.AsyncClient(base_url=dashboard) as http:
        for n in range(2):  # two shoppers ask to confirm their address: the confirmation email goes out
            who = f"{customer_id}-{n}"
            await http.post("/v1/identify", headers={"Authorization": basic(SERVER_KEY)}, json={
                "userId": who, "traits": {"email": f"{who}@mail.test"}, "messageId": str(uuid.uuid4())})
            told = await http.post("/v1/track", headers={"Authorization": basic(SERVER_KEY)}, json={
                "userId": who, "event": "Email Confirmation Requested", "messageId": str(uuid.uuid4())})
            assert told.status_code == 200, told.text
        operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}

        async def waits_for_her_answer(who: str) -> bool:
            her = (await http.get(f"/v1/customers/{who}", headers=operator)).json()
            return any(run["journey"] == "email_confirmation" and run["step"] == "waiting for Newsletter Subscribed"
                       for run in her.get("journeys", []))

        # Both of this test's runs sent theirs and wait (other tests' runs share the shop).
        for _ in range(100):
            if all([await waits_for_her_answer(f"{customer_id}-{n}") for n in range(2)]):
                break
            await asyncio.sleep(0.2)
        api = (await http.get("/v1/journeys/email_confirmation/map", headers=marketer)).json()
        [goal] = [n for n in api["nodes"] if n["kind"] == "goal"]
        stats = (await http.get("/v1/journeys/email_confirmation/stats", headers=marketer)).json()
    [confirmation] = [s for s in stats["funnel"] if s["stage"] == "confirmation"]
    assert confirmation["count"] >= 2 and goal["numbers"]["waiting now"] >= 2

    async with chromium() as browser:
        context = await browser.new_context(http_credentials={"username": "marketer", "password": MARKETER_KEY})
        try:
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            for journey in JOURNEYS:
                await page.goto(f"{dashboard}/dashboard/journeys/{journey.spec.name}")
                drawn = page.locator(f'svg.journey-map[data-journey="{journey.spec.name}"]')
                assert await drawn.count() == 1, journey.spec.name
                box = await drawn.bounding_box()
                assert box is not None and box["height"] > 100, "drawn, and visible"
                assert await drawn.locator("g.step").count() >= 3
            # email_confirmation's: its numbers are the API's.
            await page.goto(f"{dashboard}/dashboard/journeys/email_confirmation")
            step = page.locator('svg.journey-map g.step[data-kind=send][data-step="confirmation"]')
            assert await step.get_attribute("data-reached") == str(confirmation["count"])
            assert await step.get_attribute("data-sent") == str(confirmation["sends"].get("sent", 0))
            assert await step.get_attribute("data-clicked") == str(confirmation["clicked"])
            entry = page.locator("svg.journey-map g.step[data-kind=entry]")
            [entered] = [s for s in stats["funnel"] if s["stage"] == "entered"]
            assert await entry.get_attribute("data-entered") == str(entered["count"])
            waiting = await page.locator("svg.journey-map g.step[data-kind=goal]").get_attribute("data-waiting-now")
            assert int(waiting or 0) >= 2
            assert errors == []
        finally:
            await context.close()
