"""Recommendations for the storefront (sojourn/intelligence/): a product page's
"frequently bought together" and "also viewed" (catalog data: the write key will
do), and a customer's own "you may also like", "previously viewed" and the like (her
data: her proof, api/proof.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import SessionsDep, SettingsDep, SignerDep
from api.proof import CallerDep, act_for
from sojourn.intelligence import catalog

router = APIRouter(prefix="/v1", tags=["recommendations"])

Limit = Annotated[int, Query(ge=1, le=20)]


@router.get("/products/{product_id}/recommendations")
async def for_product(product_id: str, caller: CallerDep, sessions: SessionsDep, settings: SettingsDep,
                      kind: Literal["bought_together", "also_viewed"] = "bought_together",
                      limit: Limit = 5) -> dict[str, Any]:
    async with sessions() as session:
        ids = await catalog.for_product(session, product_id, kind, exclude=settings.recommend_exclude, limit=limit)
        return {"product_id": product_id, "kind": kind, "products": await catalog.described(session, ids)}


@router.get("/customers/{customer_id}/recommendations")
async def for_customer(customer_id: str, caller: CallerDep, sessions: SessionsDep, settings: SettingsDep,
                       signer: SignerDep,
                       kind: Literal["you_may_also_like", "frequently_bought_together", "previously_viewed",
                                     "popular"] = "you_may_also_like",
                       limit: Limit = 5,
                       cart: Annotated[list[str], Query(max_length=50)] = []) -> dict[str, Any]:  # noqa: B006
    customer = await act_for(customer_id, caller, sessions, settings, signer)
    async with sessions() as session:
        ids = await catalog.for_customer(session, customer, kind, cart=cart, exclude=settings.recommend_exclude,
                                         limit=limit)
        return {"customer_id": customer, "kind": kind, "products": await catalog.described(session, ids)}
