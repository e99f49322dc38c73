"""Her likelihood to buy, trained again by a Temporal Schedule (sojourn/ground/schedules.py):
one activity evaluates the model on a time-based hold-out, scores everyone, or records
why there is no model (sojourn/intelligence/likelihood.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.kit.options import SEND_RETRY

with workflow.unsafe.imports_passed_through():
    from sojourn.ground.contracts import REFRESH_LIKELIHOOD, LikelihoodResult


@workflow.defn(name="LikelihoodRefresh")
class LikelihoodRefresh:
    @workflow.run
    async def run(self) -> LikelihoodResult:
        return await workflow.execute_activity(
            REFRESH_LIKELIHOOD, result_type=LikelihoodResult, start_to_close_timeout=timedelta(minutes=30),
            retry_policy=SEND_RETRY, summary="train the likelihood to buy",
        )
