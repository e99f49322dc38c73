"""The kit's intelligence: her best channel (and, as it grows, her best time and
what to recommend), decided by activities on her history and journaled, so a replay
or the run after continue-as-new takes the same decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from workflows.kit.base import Kit
from workflows.kit.options import RECORD_TIMEOUT, SEND_RETRY

with workflow.unsafe.imports_passed_through():
    from sojourn.ground.contracts import (
        BEST_TIME,
        CHOOSE_CHANNEL,
        RECOMMEND,
        REPLENISH_DAYS,
        BestTime,
        BestTimeRequest,
        ChannelChoice,
        ChannelRequest,
        ProductsRequest,
        Recommended,
        RecommendRequest,
        ReplenishDays,
    )


class Intelligence(Kit):
    """Mixed into Journey: uses its input, journal keys and timeline."""

    async def best_channel(self, channels: tuple[str, ...] = ("push", "email", "onsite"), *,
                           by: str = "engagement") -> str:
        """The channel she engages with most, among `channels` she can be reached on:
        clicks ÷ deliveries over six months, smoothed; with too little history (fewer
        than 3 messages across 2 channels), the first of `channels` she can be reached
        on; ties to the one she engaged with last. `by="activity"`: the one she is most
        active on (days with her own opens, taps, visits). The choice and why go in the
        timeline."""
        key = self._key("best_channel" if by == "engagement" else f"best_channel:{by}")
        journaled = self.s.journal.get(key)
        if journaled is None:
            choice = await workflow.execute_activity(
                CHOOSE_CHANNEL, ChannelRequest(customer_id=self.start.customer_id, channels=list(channels), by=by),
                result_type=ChannelChoice, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY,
                summary="best channel",
            )
            journaled = self.s.journal[key] = {"channel": choice.channel, "reason": choice.reason}
            self._note(f"{'best' if by == 'engagement' else 'most active'} channel: {choice.channel} ({choice.reason})")
        return str(journaled["channel"])

    async def wait_for_best_time(self, *, within: timedelta = timedelta(hours=24), holdout: float = 0.1,
                                 reason: str | None = None) -> None:
        """Wait for her most active hour of the week within `within` (her time zone,
        outside quiet hours; the shop's hours when hers are too few; see
        sojourn/intelligence/besttime.py). A `holdout` share of customers goes at once,
        the default time, as the experiment "best_time" (variant "control"), so the
        lift shows in the journey's stats per variant instead of being claimed."""
        key = self._key("best_time")
        decided = self.s.journal.get(key)
        if decided is None:
            variant = await self.experiment("best_time", {"best_time": 1.0}, holdout=holdout) if holdout > 0 \
                else "best_time"
            if variant == "control":
                decided = {"at": workflow.now().isoformat(), "reason": "holdout: at the default time"}
            else:
                found = await workflow.execute_activity(
                    BEST_TIME, BestTimeRequest(customer_id=self.start.customer_id, now=workflow.now().isoformat(),
                                               within_seconds=within.total_seconds(),
                                               quiet_hours=self.start.quiet_hours,
                                               default_timezone=self.start.default_timezone),
                    result_type=BestTime, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY,
                    summary="best time",
                )
                decided = {"at": found.at, "reason": found.reason}
            self.s.journal[key] = decided
            self._note(f"best time: {decided['at'][:16]} ({decided['reason']})")
        target = datetime.fromisoformat(decided["at"])
        await self._wait(lambda: False, until=self._toward(target), step=reason or f"best time: {decided['reason']}",
                         key=f"{key}:wait")

    async def recommend(self, kind: str = "you_may_also_like", *, seeds: tuple[str, ...] | list[str] = (),
                        limit: int = 4) -> list[dict[str, Any]]:
        """Products for her (sojourn/intelligence/catalog.py: `you_may_also_like`,
        `frequently_bought_together`, `previously_viewed`, `popular`), never what she
        bought; `seeds` are the products to start from (her cart, the order). Each a
        dict: product_id, name, price, url, image_url, category. Journaled."""
        key = self._key(f"recommend:{kind}")
        found = self.s.journal.get(key)
        if found is None:
            answer = await workflow.execute_activity(
                RECOMMEND, RecommendRequest(customer_id=self.start.customer_id, kind=kind,
                                            seeds=[str(s) for s in seeds], limit=limit),
                result_type=Recommended, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY,
                summary=f"recommend {kind}",
            )
            found = self.s.journal[key] = answer.products
            self._note(f"recommended ({kind}): {', '.join(str(p.get('product_id')) for p in found) or 'nothing'}")
        return list(found)

    async def replenish_days(self, product_ids: list[str]) -> dict[str, int]:
        """How many days each product lasts, as the catalog says (the shop's product
        feed, `PUT /v1/products/{id}`, or its backend's events): for those it knows.
        Journaled."""
        key = self._key("replenish_days")
        found = self.s.journal.get(key)
        if found is None:
            answer = await workflow.execute_activity(
                REPLENISH_DAYS, ProductsRequest(product_ids=[str(p) for p in product_ids]),
                result_type=ReplenishDays, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY,
                summary="replenish days",
            )
            found = self.s.journal[key] = dict(answer.days)
        return {str(k): int(v) for k, v in dict(found).items()}
