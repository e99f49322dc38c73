"""A new journey added by following docs/journeys.md alone, in a copy of the tree:
its file (section 1), one line in the registry (2), its test with `keep_history` and
the documented helpers (3), its history recorded with SOJOURN_RECORD_HISTORIES=1 (4);
then the tests that look at every registered journey (the replay test, the API's
list, the sandbox's imports) pass unchanged."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(".venv", ".git", "var", "node_modules", "__pycache__", ".pytest_cache", "*.egg-info")

JOURNEY = '''
"""Welcome back: a day after she signs up, an email with what she may like."""

from datetime import timedelta

from workflows.kit import Goal, Journey, On, Prefix, journey


@journey(
    name="welcome_back",
    enters_on="Signed Up",
    exits_on=On(type="page", props={"path": Prefix("/checkout")}),  # she is buying: leave her be
    goal=Goal("Order Completed", within=timedelta(days=7), revenue="revenue"),
)
class WelcomeBack(Journey):
    async def story(self) -> None:
        await self.delay(timedelta(days=1), "a day after she signed up")
        await self.send_email("welcome_email", template="account_registration")
'''

TEST = '''
from datetime import timedelta

from tests.conftest import fast_forward, keep_history
from workflows.journeys.welcome_back import WelcomeBack


async def test_a_day_after_signing_up_she_gets_her_welcome(env, api, worker, inbox, customer_id):
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Signed Up", {"method": "email"})
    handle = api.client.get_workflow_handle_for(WelcomeBack.run, f"welcome_back:{customer_id}")
    await env.fast_forward(handle, timedelta(hours=23))
    assert inbox.to(customer_id) == []
    await env.fast_forward(handle, timedelta(hours=2))
    assert (await api.sent(customer_id, "welcome_email")).status == "sent"
    await fast_forward(env, handle, timedelta(days=8))
    result = await handle.result()
    assert result.sends == {"welcome_email": "sent"}
    await keep_history(handle, "welcome_back_whole_story")


async def test_a_checkout_page_ends_it(env, api, worker, inbox, customer_id):
    await api.track(customer_id, "Signed Up", {"method": "email"})
    handle = api.client.get_workflow_handle_for(WelcomeBack.run, f"welcome_back:{customer_id}")
    await api.page(customer_id, properties={"path": "/checkout/payment"})
    assert (await handle.result()).outcome == "exited"
'''


def pytest_in(tree: Path, *args: str, record: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if record:
        env["SOJOURN_RECORD_HISTORIES"] = "1"
    else:
        env.pop("SOJOURN_RECORD_HISTORIES", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=tree,
                          env=env, capture_output=True, text=True, timeout=900)


def test_a_new_journey_by_the_guide_passes_the_suite(tmp_path: Path) -> None:
    if os.environ.get("SOJOURN_NESTED_TREE"):
        pytest.skip("already inside a copy")
    tree = tmp_path / "sojourn"
    shutil.copytree(ROOT, tree, ignore=SKIP)
    (tree / "workflows" / "journeys" / "welcome_back.py").write_text(textwrap.dedent(JOURNEY).lstrip())
    registry = tree / "workflows" / "registry.py"
    text = registry.read_text()
    text = text.replace("from sojourn.ground.spec import JourneySpec\n",
                        "from sojourn.ground.spec import JourneySpec\nfrom workflows.journeys.welcome_back import WelcomeBack\n")
    text = text.replace("JOURNEYS: tuple[type[Journey], ...] = (\n", "JOURNEYS: tuple[type[Journey], ...] = (\n    WelcomeBack,\n")
    registry.write_text(text)
    (tree / "tests" / "test_welcome_back.py").write_text(textwrap.dedent(TEST).lstrip())
    os.environ["SOJOURN_NESTED_TREE"] = "1"  # the copy's own copy of this test skips itself
    try:
        recorded = pytest_in(tree, "tests/test_welcome_back.py", record=True)
        assert recorded.returncode == 0, recorded.stdout[-3000:] + recorded.stderr[-2000:]
        assert (tree / "tests" / "histories" / "welcome_back_whole_story.json").exists()
        unchanged = pytest_in(tree, "tests/test_replay.py", "tests/test_journeys_api.py", "tests/test_workflow_imports.py",
                              "tests/test_welcome_back.py", "tests/test_segments.py")
        assert unchanged.returncode == 0, unchanged.stdout[-3000:] + unchanged.stderr[-2000:]
    finally:
        os.environ.pop("SOJOURN_NESTED_TREE", None)
