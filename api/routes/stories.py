"""Home-page stories (sojourn/intelligence/stories.py). The marketer's stories are
kept with the marketer key (or an operator's: `PUT /v1/stories/{id}`); the storefront reads hers, in her order, with her
proof, and sojourn.js reports their impressions and taps as the home_stories
journey's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy import delete

from api.deps import MarketerKey, SessionsDep, SettingsDep, SignerDep
from api.proof import CallerDep, act_for
from sojourn.ground.db import rowcount
from sojourn.ground.models import Story
from sojourn.intelligence import stories

router = APIRouter(prefix="/v1", tags=["stories"])
StoryId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
# Its impressions and taps are this journey's (workflows/journeys/home_stories.py).
PLACEMENT = {"journey": "home_stories", "step": "stories", "placement": "stories"}


class StoryIn(BaseModel):
    title: str = Field(min_length=1, max_length=255)
    kind: Literal["campaign", "product", "collection"]
    url: HttpUrl
    image_url: HttpUrl | None = None
    category: str | None = Field(default=None, max_length=255)
    position: int = Field(default=0, ge=0, le=10_000)
    active: bool = True


@router.put("/stories/{story_id}", status_code=status.HTTP_204_NO_CONTENT)
async def put_story(story_id: StoryId, body: StoryIn, _key: MarketerKey, sessions: SessionsDep) -> None:
    async with sessions() as session:
        await stories.put(session, story_id, body.model_dump(mode="json"))
        await session.commit()


@router.delete("/stories/{story_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_story(story_id: StoryId, _key: MarketerKey, sessions: SessionsDep) -> None:
    async with sessions() as session:
        gone = await session.execute(delete(Story).where(Story.story_id == story_id))
        await session.commit()
    if not rowcount(gone):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no story {story_id!r}")


@router.get("/stories")
async def list_stories(_key: MarketerKey, sessions: SessionsDep) -> dict[str, Any]:
    async with sessions() as session:
        return {"stories": await stories.listed(session)}


@router.get("/customers/{customer_id}/stories")
async def her_stories(customer_id: str, caller: CallerDep, sessions: SessionsDep, settings: SettingsDep,
                      signer: SignerDep) -> dict[str, Any]:
    """The active stories, those about the categories she views most first."""
    customer = await act_for(customer_id, caller, sessions, settings, signer)
    async with sessions() as session:
        return {**PLACEMENT, "stories": await stories.for_customer(session, customer)}
