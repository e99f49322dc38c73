"""Journey parameters that settings really override, by one documented mechanism:
SOJOURN_JOURNEYS__<JOURNEY>__<PARAM>. A name that matches no registered journey or
declared parameter stops start-up with an error that names it (it used to be ignored
without a word: SOJOURN_SECOND_ORDER_COUPON_DAYS never reached post-purchase)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.main import create_app
from sojourn.ground.settings import Settings
from sojourn.ground.spec import JourneySettingsError, JourneySpec, start_input
from workflows.journeys.post_purchase import PostPurchase
from workflows.journeys.referral_ask import ReferralAsk

ROOT = Path(__file__).resolve().parent.parent
OVERRIDE = "SOJOURN_JOURNEYS__POST_PURCHASE__SECOND_ORDER_COUPON_DAYS"


def params(spec: JourneySpec, settings: Settings) -> dict[str, Any]:
    return start_input(spec, "lisa", None, settings)["params"]


def test_a_journey_parameter_is_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert params(PostPurchase.spec, Settings())["second_order_coupon_days"] == 30  # the declared default
    monkeypatch.setenv(OVERRIDE, "45")
    assert params(PostPurchase.spec, Settings())["second_order_coupon_days"] == 45
    monkeypatch.setenv("SOJOURN_JOURNEYS__REFERRAL_ASK__REFERRAL_INCENTIVE", "a free mascara each")
    assert params(ReferralAsk.spec, Settings())["referral_incentive"] == "a free mascara each"


def test_the_older_setting_of_a_parameters_own_name_still_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOJOURN_REFERRAL_DELAY_DAYS", "5")
    assert params(ReferralAsk.spec, Settings())["referral_delay_days"] == 5
    monkeypatch.setenv("SOJOURN_JOURNEYS__REFERRAL_ASK__REFERRAL_DELAY_DAYS", "7")  # the journey's own wins
    assert params(ReferralAsk.spec, Settings())["referral_delay_days"] == 7


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("SOJOURN_JOURNEYS__POST_PURCHACE__SECOND_ORDER_COUPON_DAYS", "45", "no registered journey is called 'post_purchace'"),
    ("SOJOURN_JOURNEYS__POST_PURCHASE__SECOND_ORDER_COUPON_DAY", "45", "post_purchase has no parameter"),
    (OVERRIDE, "soon", "'soon' is not of type int"),
])
async def test_a_journey_setting_that_would_be_ignored_stops_the_api_starting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    app = create_app(Settings())
    with pytest.raises(JourneySettingsError) as refused:
        async with app.router.lifespan_context(app):
            pass
    assert variable.split("__")[1] in str(refused.value) and named in str(refused.value)


def test_a_typo_stops_the_router_process_with_the_variable_named(tmp_path: Path) -> None:
    env = {**os.environ, "SOJOURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
           "SOJOURN_JOURNEYS__CART_ABANDONMENT__DELAY_HOURS": "2"}
    ran = subprocess.run([sys.executable, "-m", "sojourn.devtools.cli", "router"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode != 0
    assert "SOJOURN_JOURNEYS__CART_ABANDONMENT__DELAY_HOURS" in ran.stderr
    assert "cart_abandonment has no parameter 'delay_hours'" in ran.stderr
