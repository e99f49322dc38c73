"""The product feed: the shop's backend says what each product is called, costs,
links to and looks like (sojourn/intelligence/catalog.py: `feed`). Only a server key:
the catalog is what every recommendation email and slot shows, and a storefront's
write key is anyone's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field, HttpUrl

from api.deps import SessionsDep
from api.proof import CallerDep
from sojourn.intelligence import catalog

router = APIRouter(prefix="/v1/products", tags=["recommendations"])
ProductId = Annotated[str, Path(min_length=1, max_length=255)]


class ProductIn(BaseModel):
    name: str | None = Field(default=None, max_length=255)
    price: float | None = Field(default=None, ge=0, lt=1e12)
    url: HttpUrl | None = None
    image_url: HttpUrl | None = None
    category: str | None = Field(default=None, max_length=255)
    replenish_days: int | None = Field(default=None, ge=1, le=365)  # how long one lasts: the replenishment reminder


@router.put("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def put_product(product_id: ProductId, body: ProductIn, caller: CallerDep, sessions: SessionsDep) -> None:
    if not caller.server:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the product feed takes a server key (the shop's backend), "
                                                       "never a storefront's write key")
    fields = body.model_dump(mode="json")
    async with sessions() as session:
        await catalog.feed(session, product_id, fields)
        await session.commit()
