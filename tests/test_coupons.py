"""Coupon pools: generated or imported codes, issued once per run and slot (even to
concurrent journeys, on both databases), redeemed by orders, running low, run dry."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sojourn.coupons import pools
from sojourn.ground.models import CouponCode
from tests.conftest import Api


def offer_name(customer_id: str) -> str:
    return f"offer-{customer_id}"


async def test_generated_codes_are_unique_unambiguous_and_the_space_must_be_large(api: Api, sessions: Any,
                                                                                  customer_id: str) -> None:
    offer = offer_name(customer_id)
    response = await api.operator_json("POST", f"/v1/coupons/{offer}/generate",
                                       {"count": 500, "prefix": "WELCOME-", "length": 8})
    assert response.status_code == 201, response.text
    assert response.json()["generated"] == 500
    async with sessions() as session:
        codes = (await session.scalars(select(CouponCode.code).where(CouponCode.offer == offer))).all()
    assert len(set(codes)) == 500
    assert all(c.startswith("WELCOME-") and set(c[8:]) <= set(pools.ALPHABET) for c in codes)
    assert not set("01OIL5S2ZB8") & set(pools.ALPHABET)

    # 25^4 = 390,625 codes of 4 characters: 5,000 would fill over 1% of them.
    response = await api.operator_json("POST", f"/v1/coupons/{offer}/generate", {"count": 5000, "length": 4})
    assert response.status_code == 422 and "use a length of at least" in response.json()["error"], response.text
    for bad in ({"count": 0}, {"count": 10, "length": 99}, {"count": 10, "prefix": "a b"}, {"count": "x"}):
        response = await api.operator_json("POST", f"/v1/coupons/{offer}/generate", bad)
        assert 400 <= response.status_code < 500, (bad, response.text)
    assert (await api.http.post(f"/v1/coupons/{offer}/generate", json={"count": 1})).status_code == 401


async def test_a_csv_import_is_all_or_nothing_and_names_bad_lines(api: Api, sessions: Any,
                                                                  customer_id: str) -> None:
    offer = offer_name(customer_id)
    bad = f"code,expires_at\n{customer_id}-A,2030-01-01T00:00:00Z\n{customer_id}-B,someday\n{customer_id}-A,\n"
    response = await api.operator_csv(f"/v1/coupons/{offer}/import", bad)
    assert response.status_code == 400, response.text
    assert "line 3: expires_at" in response.json()["error"] and "line 4" in response.json()["error"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CouponCode).where(CouponCode.offer == offer)) == 0

    good = f"code,expires_at\n{customer_id}-A,2030-01-01T00:00:00Z\n{customer_id}-B,\n"
    response = await api.operator_csv(f"/v1/coupons/{offer}/import", good)
    assert response.status_code == 201 and response.json()["imported"] == 2, response.text
    again = await api.operator_csv(f"/v1/coupons/{offer}/import", good)
    assert again.json() == {"offer": offer, "imported": 0, "already_there": 2, "available": 2}
    assert (await api.operator_csv(f"/v1/coupons/{offer}/import", b"\xff\xfe")).status_code == 400


def test_the_cli_imports_a_csv(tmp_path: Path, settings: Any, customer_id: str) -> None:
    offer = offer_name(customer_id)
    path = tmp_path / "codes.csv"
    path.write_text("".join(f"{customer_id}-{i}\n" for i in range(3)))
    env = {"SOJOURN_DATABASE_URL": settings.database_url, "PATH": ""}
    out = subprocess.run([sys.executable, "-m", "sojourn.devtools.cli", "coupons", "import", offer, str(path)],
                         capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert f"{offer}: 3 codes imported" in out.stdout
    out = subprocess.run([sys.executable, "-m", "sojourn.devtools.cli", "coupons", "generate", offer, "--count", "10",
                          "--length", "3"], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 2 and "length must be 4 to 32" in out.stderr


async def test_concurrent_journeys_never_get_the_same_code(sessions: Any, customer_id: str) -> None:
    offer = offer_name(customer_id)
    async with sessions() as session:
        await pools.generate(session, offer, 40, prefix="C-", length=8, low_stock=5)
        await session.commit()

    async def issue(run: int, attempt: int) -> str | None:
        async with sessions() as session:
            issued = await pools.issue(session, offer, f"wf-{customer_id}-{run}/run/slot", f"c{run}",
                                         f"wf-{customer_id}-{run}", timedelta(days=14))
        return issued.code

    # 30 runs, each asking three times at once (a retry racing the first attempt).
    got = await asyncio.gather(*(issue(run, attempt) for run in range(30) for attempt in range(3)))
    per_run = [set(got[i * 3:(i + 1) * 3]) for i in range(30)]
    assert all(len(codes) == 1 and None not in codes for codes in per_run), per_run
    assert len({codes.pop() for codes in per_run}) == 30, "no code went to two runs"
    async with sessions() as session:
        assigned = await session.scalar(select(func.count()).select_from(CouponCode).where(
            CouponCode.offer == offer, CouponCode.state == "assigned"))
        assert assigned == 30
        report = {p["offer"]: p for p in await pools.by_offer(session)}[offer]
    assert (report["available"], report["assigned"], report["running_low"]) == (10, 30, False)

    # Draining the pool: low stock first, then nothing to issue, with the reason.
    async with sessions() as session:
        for run in range(30, 40):
            await pools.issue(session, offer, f"k-{customer_id}-{run}", "c", "w", None)
        report = {p["offer"]: p for p in await pools.by_offer(session)}[offer]
        assert report["running_low"] is True and report["usable"] == 0
        empty = await pools.issue(session, offer, f"k-{customer_id}-last", "c", "w", None)
    assert empty.code is None and empty.reason == f"coupon pool {offer!r} is empty"


async def test_an_order_with_the_code_redeems_it(api: Api, sessions: Any, customer_id: str) -> None:
    offer = offer_name(customer_id)
    async with sessions() as session:
        await pools.import_codes(session, offer, [(f"{customer_id}-X", None), (f"{customer_id}-Y", None)])
        await session.commit()
        issued = await pools.issue(session, offer, f"k-{customer_id}", customer_id, "w", timedelta(days=1))
    other = f"{customer_id}-Y" if issued.code == f"{customer_id}-X" else f"{customer_id}-X"
    await api.track(customer_id, "Order Completed", {"order_id": "o-1", "revenue": 20, "coupon": other})
    await api.track(customer_id, "Order Completed", {"order_id": "o-2", "revenue": 20, "coupon": issued.code})
    async with sessions() as session:
        rows = {c.code: c for c in (await session.scalars(select(CouponCode).where(CouponCode.offer == offer))).all()}
    assert rows[issued.code].state == "redeemed" and rows[issued.code].order_id == "o-2"
    assert rows[other].state == "available", "a code never issued is not redeemed"


@pytest.mark.parametrize("prefix", ["", "X"])
def test_csv_parsing(prefix: str) -> None:
    codes, problems = pools.parse_csv(f"{prefix}A1\n{prefix}B2\n\n")
    assert problems == [] and [c for c, _ in codes] == [f"{prefix}A1", f"{prefix}B2"]
    assert pools.parse_csv("")[1] == ["the file is empty"]


async def test_a_coupon_applied_redeems_and_an_expired_code_does_not(api: Api, sessions: Any,
                                                                     customer_id: str) -> None:
    offer = offer_name(customer_id)
    async with sessions() as session:
        await pools.import_codes(session, offer, [(f"{customer_id}-{i}", None) for i in range(2)])
        await session.commit()
        fresh = await pools.issue(session, offer, f"k1-{customer_id}", customer_id, "w", timedelta(days=1))
        stale = await pools.issue(session, offer, f"k2-{customer_id}", customer_id, "w", timedelta(seconds=-1))
    await api.track(customer_id, "Coupon Applied", {"cart_id": "c-1", "coupon_id": fresh.code})
    await api.track(customer_id, "Order Completed", {"order_id": "o-1", "revenue": 5, "coupon": stale.code})
    report = {p["offer"]: p for p in (await api.operator("GET", "/v1/coupons")).json()["pools"]}[offer]
    assert (report["redeemed"], report["expired"], report["assigned"]) == (1, 1, 0), report


async def test_running_low_is_logged(sessions: Any, customer_id: str, caplog: pytest.LogCaptureFixture) -> None:
    offer = offer_name(customer_id)
    async with sessions() as session:
        await pools.import_codes(session, offer, [(f"{customer_id}-{i}", None) for i in range(3)], low_stock=2)
        await session.commit()
        with caplog.at_level("WARNING", logger="sojourn.coupons.pools"):
            await pools.issue(session, offer, f"a-{customer_id}", "c", "w", None)
            assert not caplog.records, "3 -> 2 left: not below 2 yet"
            await pools.issue(session, offer, f"b-{customer_id}", "c", "w", None)
    assert [r.getMessage() for r in caplog.records] == [
        f"coupon pool {offer!r} is running low: 1 codes left (warning below 2)"]
