"""What the kit's intelligence reads: her engagement history (sojourn/intelligence/)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.segment_sweep import move
from sojourn.ground import calendar
from sojourn.ground.contracts import (
    BEST_TIME,
    CHOOSE_CHANNEL,
    RECOMMEND,
    REFRESH_LIKELIHOOD,
    REFRESH_RECOMMENDATIONS,
    REPLENISH_DAYS,
    BestTime,
    BestTimeRequest,
    ChannelChoice,
    ChannelRequest,
    LikelihoodResult,
    ProductsRequest,
    Recommended,
    RecommendRequest,
    RefreshResult,
    ReplenishDays,
)
from sojourn.ground.db import dialect, insert_for, write_lock
from sojourn.ground.models import Customer, Event, table, utcnow
from sojourn.identity.linking import canonical
from sojourn.intelligence import besttime, catalog, engagement, likelihood
from sojourn.pipeline.membership import Watch
from sojourn.pipeline.store import customers_facts


class IntelligenceActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], default_timezone: str = "UTC",
                 exclude: list[str] | None = None, likelihood_days: int = 14, watch: Watch | None = None) -> None:
        self.sessions = sessions
        self.watch = watch  # the segments journeys watch: a re-score may carry her across one
        self.likelihood_days = likelihood_days
        self.default_timezone = default_timezone
        self.exclude = list(exclude or [])  # SOJOURN_RECOMMEND_EXCLUDE

    @activity.defn(name=CHOOSE_CHANNEL)
    async def choose_channel(self, request: ChannelRequest) -> ChannelChoice:
        """Her best channel among the journey's, from six months of her history."""
        async with self.sessions() as session:
            customer = await canonical(session, request.customer_id)
            reachable = await engagement.reachable(session, customer)
            if request.by == "activity":
                days = await engagement.activity(session, customer, utcnow())
                choice = engagement.choose_by_activity(list(request.channels), days, reachable)
            else:
                stats = await engagement.history(session, customer, utcnow())
                choice = engagement.choose(list(request.channels), stats, reachable)
        return ChannelChoice(choice.channel, choice.reason, choice.scores)

    @activity.defn(name=REFRESH_RECOMMENDATIONS)
    async def refresh_recommendations(self) -> RefreshResult:
        """Score the recommendation tables and the shop's activity hours again from its
        events (one transaction)."""
        async with self.sessions() as session:
            now = utcnow()
            hours = await besttime.refresh_shop_hours(session, now, self.default_timezone)
            return RefreshResult(**await catalog.refresh(session, now), activity_events=hours)

    @activity.defn(name=REFRESH_LIKELIHOOD)
    async def refresh_likelihood(self) -> LikelihoodResult:
        """Train her likelihood to buy again, evaluate it on the hold-out, and score
        everyone, or record why there is no model (sojourn/intelligence/likelihood.py)."""
        now = utcnow()
        horizon = timedelta(days=self.likelihood_days)
        async with self.sessions() as session:
            samples = await likelihood.gather(session, now, horizon)
        report = await asyncio.to_thread(likelihood.learn, *samples)  # CPU: off the worker's loop
        async with write_lock(self.sessions), self.sessions() as session:
            model, before = await likelihood.store(session, report, now, horizon)
            moves = await self._crossed(session, before, report, now, f"likelihood-{model.id}")
            if moves:
                await session.execute(insert_for(dialect(session))(table(Event))
                                      .on_conflict_do_nothing(index_elements=["message_id"]), moves)
            await session.commit()
        return LikelihoodResult(report.status, report.reason, len(report.scored.ids) if report.scored else 0,
                                report.metrics.get("auc"), report.metrics.get("baselines", {}).get("recency_auc"),
                                joined=sum(m["name"] == "Audience Entered" for m in moves),
                                left=sum(m["name"] == "Audience Exited" for m in moves))

    async def _crossed(self, session: AsyncSession, before: dict[str, float], report: likelihood.Report,
                       now: datetime, why: str) -> list[dict[str, Any]]:
        """Who the new scores carried across a watched segment's line ("likely buyers"):
        no time passed, so the segment sweep would not see it; her joining or leaving is
        an event, routed to the journeys that enter or exit on it."""
        if self.watch is None or not self.watch.segments:
            return []
        after = dict(zip(report.scored.ids, (r[0] for r in report.scored.rows), strict=True)) if report.scored else {}
        changed = sorted(c for c in set(before) | set(after) if before.get(c) != after.get(c))
        moves: list[dict[str, Any]] = []
        for start in range(0, len(changed), 500):
            async for customer_id, facts in customers_facts(session, changed[start:start + 500]):
                was = dataclasses.replace(facts, purchase_likelihood=before.get(customer_id))
                now_facts = dataclasses.replace(facts, purchase_likelihood=after.get(customer_id))
                members = sorted(self.watch.members(now_facts, now))
                for segment in self.watch.segments:
                    joined = segment.contains(now_facts, now)
                    if segment.contains(was, now) != joined:
                        moves.append(move(segment.name, customer_id, joined, now, why, members, now))
        return moves

    @activity.defn(name=BEST_TIME)
    async def best_time(self, request: BestTimeRequest) -> BestTime:
        """Her most active hour within the window, in her time zone, outside quiet hours."""
        now = datetime.fromisoformat(request.now)
        async with self.sessions() as session:
            customer_id = await canonical(session, request.customer_id)
            tz = calendar.zone(await session.scalar(select(Customer.timezone).where(Customer.id == customer_id)),
                             request.default_timezone)
            hers = await besttime.her_hours(session, customer_id, tz, now)
            shop = await besttime.shop_hours(session)
        at, reason = besttime.best_moment(now, timedelta(seconds=request.within_seconds), tz, hers, shop,
                                          request.quiet_hours)
        return BestTime(at.isoformat(), reason)

    @activity.defn(name=RECOMMEND)
    async def recommend(self, request: RecommendRequest) -> Recommended:
        """Hers, never what she bought nor the brand's exclusions; `seeds` are her cart
        or the order to start from."""
        async with self.sessions() as session:
            customer_id = await canonical(session, request.customer_id)
            ids = await catalog.for_customer(session, customer_id, request.kind, cart=request.seeds,
                                             exclude=self.exclude, limit=max(1, min(request.limit, 20)))
            return Recommended(await catalog.described(session, ids))

    @activity.defn(name=REPLENISH_DAYS)
    async def replenish_days(self, request: ProductsRequest) -> ReplenishDays:
        """How long each product lasts, from the catalog (the product feed, or the
        backend's events), for post-purchase's reminders."""
        async with self.sessions() as session:
            return ReplenishDays(await catalog.lasting(session, request.product_ids[:100]))
