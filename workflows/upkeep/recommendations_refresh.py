"""The recommendations' refresh, run by a Temporal Schedule (sojourn/ground/schedules.py):
one activity scores "bought together", "also viewed" and "popular" again from the
shop's events and replaces the tables (sojourn/intelligence/catalog.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.kit.options import SEND_RETRY

with workflow.unsafe.imports_passed_through():
    from sojourn.ground.contracts import REFRESH_RECOMMENDATIONS, RefreshResult


@workflow.defn(name="RecommendationsRefresh")
class RecommendationsRefresh:
    @workflow.run
    async def run(self) -> RefreshResult:
        return await workflow.execute_activity(
            REFRESH_RECOMMENDATIONS, result_type=RefreshResult, start_to_close_timeout=timedelta(minutes=30),
            retry_policy=SEND_RETRY, summary="score recommendations",
        )
