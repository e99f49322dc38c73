"""What the kit's intelligence reads: her engagement history (sojourn/intelligence/)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.contracts import CHOOSE_CHANNEL, REFRESH_RECOMMENDATIONS, ChannelChoice, ChannelRequest, RefreshResult
from sojourn.identity import canonical
from sojourn.intelligence import catalog, engagement
from sojourn.models import utcnow


class IntelligenceActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @activity.defn(name=CHOOSE_CHANNEL)
    async def choose_channel(self, request: ChannelRequest) -> ChannelChoice:
        """Her best channel among the journey's, from six months of her history."""
        async with self.sessions() as session:
            customer = await canonical(session, request.customer_id)
            stats = await engagement.history(session, customer, utcnow())
            reachable = await engagement.reachable(session, customer)
        choice = engagement.choose(list(request.channels), stats, reachable)
        return ChannelChoice(choice.channel, choice.reason, choice.scores)

    @activity.defn(name=REFRESH_RECOMMENDATIONS)
    async def refresh_recommendations(self) -> RefreshResult:
        """Score the recommendation tables again from the shop's events (one transaction)."""
        async with self.sessions() as session:
            return RefreshResult(**await catalog.refresh(session))
