"""Home-page stories (the guide's InStory): the marketer's campaigns, products and
collections at the top of the home page, ordered for each shopper by her interests.

Her interests are the categories of the products she viewed last (her profile keeps
the latest views, newest first): a story about a category she viewed more comes
first, a category viewed as often ranks by how recently; stories about nothing she
viewed keep the marketer's order after them. The marketer says what each story is
about (its `category`, as the catalog names categories).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.db import upsert
from sojourn.ground.models import Customer, Product, Story, utcnow

KINDS = ("campaign", "product", "collection")


async def put(session: AsyncSession, story_id: str, fields: dict[str, Any]) -> None:
    values = {**fields, "updated_at": utcnow()}
    stmt = upsert(session, Story).values(story_id=story_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["story_id"], set_=values))


def describe(story: Story) -> dict[str, Any]:
    return {"story_id": story.story_id, "title": story.title, "kind": story.kind, "url": story.url,
            "image_url": story.image_url, "category": story.category, "position": story.position}


async def listed(session: AsyncSession) -> list[dict[str, Any]]:
    stories = (await session.scalars(select(Story).order_by(Story.position, Story.story_id))).all()
    return [{**describe(s), "active": s.active} for s in stories]


async def interests(session: AsyncSession, customer_id: str) -> dict[str, tuple[int, int]]:
    """Her viewed categories: category -> (views among her latest, how recent: 0 newest)."""
    customer = await session.get(Customer, customer_id)
    viewed = [str(p) for p in (customer.recently_viewed or [])] if customer else []
    if not viewed:
        return {}
    categories = dict((await session.execute(select(Product.product_id, Product.category).where(
        Product.product_id.in_(viewed), Product.category.is_not(None)))).all())
    found: dict[str, tuple[int, int]] = {}
    for recency, product in enumerate(viewed):
        category = categories.get(product)
        if category:
            count, first = found.get(category, (0, recency))
            found[category] = (count + 1, min(first, recency))
    return found


async def for_customer(session: AsyncSession, customer_id: str, limit: int = 12) -> list[dict[str, Any]]:
    """The active stories for her, most interesting first."""
    stories = (await session.scalars(select(Story).where(Story.active.is_(True))
                                     .order_by(Story.position, Story.story_id))).all()
    mine = await interests(session, customer_id)
    ranked = []
    for index, story in enumerate(stories):
        count, recency = mine.get(story.category or "", (0, 0))
        ranked.append(((-count, recency if count else 0, index), story))
    ranked.sort(key=lambda pair: pair[0])
    return [describe(story) for _, story in ranked[:limit]]
