"""How each version of a piece of content did: its messages sent and the ones clicked
(a tracked link's "Message Clicked", api/routes/clicks.py), with the click rate's
interval, so the marketer can compare a new version with the one before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.analytics.statistics import wilson
from sojourn.ground.models import Event, Message


async def by_version(session: AsyncSession, name: str) -> list[dict[str, Any]]:
    """Per version of `name` that sent anything: sent, clicked, click rate."""
    sent = dict((await session.execute(
        select(Message.content_version, func.count()).where(
            Message.content_name == name, Message.status == "sent", Message.content_version.is_not(None))
        .group_by(Message.content_version))).all())
    clicked_key = Event.properties["message_id"].as_string()
    clicked = dict((await session.execute(
        select(Message.content_version, func.count(func.distinct(Message.idempotency_key)))
        .join(Event, (Event.name == "Message Clicked") & (clicked_key == Message.idempotency_key)
              & (Event.customer_id == Message.customer_id))
        .where(Message.content_name == name, Message.status == "sent")
        .group_by(Message.content_version))).all())
    rows = []
    for version in sorted((v for v in sent if v is not None), reverse=True):
        n, c = int(sent[version]), int(clicked.get(version, 0))
        rows.append({"version": version, "sent": n, "clicked": c, "click_rate": c / n if n else None,
                     "interval": wilson(c, n)})
    return rows
