"""The kit's decisions: the customer's profile and traits, segments, splits and
experiments."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from sojourn.ground.segments import Segment
from sojourn.ground.spec import JOURNEY_VARIANT
from workflows.kit.base import Kit
from workflows.kit.experiments import assign
from workflows.kit.options import RECORD_TIMEOUT, SEND_RETRY

with workflow.unsafe.imports_passed_through():
    from sojourn.ground import calendar
    from sojourn.ground.contracts import (
        LOAD_FACTS,
        LOAD_PROFILE,
        RECORD_ASSIGNMENT,
        AssignmentRecord,
        FactsRequest,
        Profile,
        ProfileRequest,
    )
    from sojourn.ground.facts import Facts


class Decisions(Kit):
    """Mixed into Journey: uses its state (`self.s`), journal keys and timeline."""

    async def profile(self, *, refresh: bool = False) -> Profile:
        """The customer's profile (traits, time zone, visitor id), read once and kept:
        from the start input where the router put it there, else by an activity."""
        if self._profile is None or refresh:
            key = self._key("profile")
            journaled = self.s.journal.get(key)
            if journaled is None and not refresh and self.start.profile is not None:
                journaled = self.s.journal[key] = self.start.profile
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

    async def in_segment(self, segment: Segment) -> bool:
        """Is she in the segment now? Read from her facts as they are at this step (an
        activity), and journaled: a replay, or the run after continue-as-new, gets the
        same answer."""
        key = self._key(f"segment:{segment.name}")
        journaled = self.s.journal.get(key)
        if journaled is None:
            facts = await workflow.execute_activity(
                LOAD_FACTS, FactsRequest(customer_id=self.start.customer_id), result_type=Facts,
                start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY, summary=f"segment {segment.name}",
            )
            journaled = self.s.journal[key] = segment.contains(facts, workflow.now())
            self._note(f"segment {segment.name}: {'in' if journaled else 'not in'}")
        return bool(journaled)

    async def trait(self, name: str, default: Any = None) -> Any:
        return (await self.profile()).traits.get(name, default)

    async def timezone(self) -> Any:
        return calendar.zone((await self.profile()).timezone, self.start.default_timezone)

    def branch(self, split: str, path: str) -> str:
        """Record which path of a split this customer took, for the timeline."""
        self._note(f"{split}: {path}")
        return path

    async def experiment(self, name: str, weights: dict[str, float], *, holdout: float = 0.0) -> str:
        """A/B(/n) assignment, deterministic per customer and experiment, recorded for
        reporting and shown as the JourneyVariant search attribute. `holdout` of
        customers get "control".

        The unit is her visitor id: the first anonymous id she was seen with, else her
        customer id. A visitor is assigned by her anonymous id before she signs in, and
        once she has, her account keeps that browser's variant (the profile carries the
        id over when the two are linked), in this journey and any other."""
        if name in self.s.variants:
            return self.s.variants[name]
        unit = (await self.profile()).visitor_id or self.start.customer_id
        variant = assign(unit, name, weights, holdout)
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
