"""The kit's decisions: the customer's profile and traits, splits and experiments."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows.experiments import assign
from workflows.options import RECORD_TIMEOUT, SEND_RETRY
from workflows.spec import JOURNEY_VARIANT

with workflow.unsafe.imports_passed_through():
    from activities.contracts import LOAD_PROFILE, RECORD_ASSIGNMENT, AssignmentRecord, Profile, ProfileRequest
    from workflows import timing


class Decisions:
    """Mixed into Journey: uses its state (`self.s`), journal keys and timeline."""

    async def profile(self, *, refresh: bool = False) -> Profile:
        """The customer's profile (traits, email, time zone), read once and kept."""
        if self._profile is None or refresh:
            key = self._key("profile")
            journaled = self.s.journal.get(key)
            if journaled is None:
                loaded = await workflow.execute_activity(
                    LOAD_PROFILE,
                    ProfileRequest(customer_id=self.start.customer_id),
                    result_type=Profile,
                    start_to_close_timeout=RECORD_TIMEOUT,
                    summary="load profile",
                )
                self.s.journal[key] = loaded
                journaled = loaded
            self._profile = journaled if isinstance(journaled, Profile) else Profile(**journaled)
        return self._profile

    async def trait(self, name: str, default: Any = None) -> Any:
        return (await self.profile()).traits.get(name, default)

    async def timezone(self) -> Any:
        return timing.zone((await self.profile()).timezone, self.start.default_timezone)

    def branch(self, split: str, path: str) -> str:
        """Record which path of a split this customer took, for the timeline."""
        self._note(f"{split}: {path}")
        return path

    async def experiment(self, name: str, weights: dict[str, float], *, holdout: float = 0.0) -> str:
        """A/B(/n) assignment, deterministic per customer and experiment, recorded for
        reporting and shown as the JourneyVariant search attribute. `holdout` of
        customers get "control"."""
        if name in self.s.variants:
            return self.s.variants[name]
        variant = assign(self.start.customer_id, name, weights, holdout)
        self.s.variants[name] = variant
        await workflow.execute_activity(
            RECORD_ASSIGNMENT,
            AssignmentRecord(
                journey=self.spec.name,
                experiment=name,
                customer_id=self.start.customer_id,
                workflow_id=workflow.info().workflow_id,
                variant=variant,
                assigned_at=workflow.now().isoformat(),
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=SEND_RETRY,
            summary=f"experiment {name}: {variant}",
        )
        workflow.upsert_search_attributes(
            [JOURNEY_VARIANT.value_set(",".join(f"{k}={v}" for k, v in sorted(self.s.variants.items())))]
        )
        self._note(f"experiment {name}: {variant}")
        return variant
