"""Recommendations for the storefront (sojourn/intelligence/): a product page's
"frequently bought together", "also viewed", similar products and similar categories
(catalog data: the write key will do), a customer's own "you may also like",
"previously viewed" and the like (her data: her proof, api/proof.py), and the whole
block below a product's information for her (sojourn.js draws it and reports its
impressions and clicks for the product discovery journey's KPIs)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from api.deps import SessionsDep, SettingsDep, SignerDep
from api.proof import CallerDep, act_for
from sojourn.intelligence import catalog

router = APIRouter(prefix="/v1", tags=["recommendations"])

Limit = Annotated[int, Query(ge=1, le=20)]
ProductId = Annotated[str, Path(min_length=1, max_length=255)]


@router.get("/products/{product_id}/recommendations")
async def for_product(product_id: str, caller: CallerDep, sessions: SessionsDep, settings: SettingsDep,
                      kind: Literal["bought_together", "also_viewed", "similar_products"] = "bought_together",
                      limit: Limit = 5) -> dict[str, Any]:
    async with sessions() as session:
        if kind == "similar_products":
            ids = await catalog.similar_products(session, product_id, exclude=settings.recommend_exclude, limit=limit)
        else:
            ids = await catalog.for_product(session, product_id, kind, exclude=settings.recommend_exclude,
                                            limit=limit)
        return {"product_id": product_id, "kind": kind, "products": await catalog.described(session, ids)}


# The product page's block belongs to the product discovery journey: its impressions
# and clicks are that journey's (docs/journeys.md, "What each KPI counts").
PRODUCT_PAGE = {"journey": "product_discovery", "step": "product_page", "placement": "product_page"}
TITLES = {"frequently_bought_together": "Frequently bought together", "you_may_also_like": "You may also like",
          "similar_products": "Similar products", "similar_categories": "From similar categories",
          "previously_viewed": "Previously viewed"}


@router.get("/customers/{customer_id}/product-page/{product_id}")
async def product_page(customer_id: str, product_id: ProductId, caller: CallerDep, sessions: SessionsDep,
                       settings: SettingsDep, signer: SignerDep, limit: Limit = 4) -> dict[str, Any]:
    """What goes below a product's information for her, in the guide's order: bought
    together, you may also like, similar products, similar categories, previously
    viewed; never what she bought, nor this product. Sections with nothing are left out."""
    customer = await act_for(customer_id, caller, sessions, settings, signer)
    exclude = [product_id, *settings.recommend_exclude]
    async with sessions() as session:
        bought = await catalog.bought_by(session, customer)
        mine = await catalog.for_customer_kinds(session, customer, ("you_may_also_like", "previously_viewed"),
                                                cart=[product_id], exclude=exclude, limit=limit)
        picks = {
            "frequently_bought_together": [p for p in await catalog.for_product(
                session, product_id, "bought_together", exclude=[*exclude, *bought], limit=limit + len(bought))
                if p not in bought][:limit],
            "you_may_also_like": mine["you_may_also_like"],
            "similar_products": await catalog.similar_products(session, product_id, exclude=[*exclude, *bought],
                                                               limit=limit),
        }
        sections: list[dict[str, Any]] = [{"kind": kind, "title": TITLES[kind],
                                           "products": await catalog.described(session, ids)}
                                          for kind, ids in picks.items() if ids]
        categories = await catalog.similar_categories(session, product_id, exclude=[*exclude, *bought])
        if any(c["products"] for c in categories):
            sections.append({"kind": "similar_categories", "title": TITLES["similar_categories"], "categories": [
                {"category": c["category"], "products": await catalog.described(session, c["products"])}
                for c in categories if c["products"]]})
        if mine["previously_viewed"]:
            sections.append({"kind": "previously_viewed", "title": TITLES["previously_viewed"],
                             "products": await catalog.described(session, mine["previously_viewed"])})
    return {"product_id": product_id, **PRODUCT_PAGE, "sections": sections}


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
