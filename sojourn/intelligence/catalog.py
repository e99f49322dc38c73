"""The recommendation tables, kept in the database: refreshed from the shop's events
by a Temporal Schedule (`refresh`), read for a product (the storefront's product
page) or for a customer (templates, the storefront, the kit) with the filters.
The scoring itself is pure: sojourn/intelligence/recommendations.py.

The catalog (a product's name, price, link, image, category, and how many days it
lasts: `replenish_days`) comes only from the
shop's backend: its server-key events, or the product feed (`feed`: PUT
/v1/products/{id}), which then wins over events. Popularity and bought-together rank
the backend's orders when the shop sends any; only a shop whose orders all come from
the storefront ranks those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.db import among, dialect, for_each_dialect, upsert
from sojourn.ground.facts import product_ids
from sojourn.ground.models import Customer, Event, PopularProduct, Product, ProductRelation, table, utcnow
from sojourn.intelligence import recommendations as scoring

ORDERS_WINDOW = timedelta(days=365)  # baskets older than a year no longer say much
CATALOG_WINDOW = timedelta(days=90)  # names, prices and links as last seen
PRODUCT_EVENTS = ("Product Viewed", "Product Added", "Product Clicked")
VIEWED_WEIGHT = 0.5  # an also-viewed companion counts half a bought-together one
KINDS = ("you_may_also_like", "frequently_bought_together", "previously_viewed", "popular")


def _text(value: Any, limit: int = 255) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        text = str(value).strip()
        return text[:limit] if text else None
    return None


def replenish_days(value: Any) -> int | None:
    """Days a product lasts, 1 to 365 (whole days), or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return int(value) if 1 <= value <= 365 else None


def _price(value: Any) -> float | None:
    try:
        price = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return price if price == price and abs(price) < 1e12 else None


async def refresh(session: AsyncSession, now: datetime | None = None) -> dict[str, int]:
    """Score every kind again from the events, and replace the tables in one
    transaction (readers see the old tables until it commits). Commits."""
    now = now or utcnow()
    recent = (Event.type == "track", Event.name == "Order Completed", Event.timestamp >= now - ORDERS_WINDOW)
    # A shop that sends its orders from its backend: only those rank (a browser's
    # "Order Completed" is anyone's to send). Otherwise the storefront's are all there is.
    backend = await session.scalar(select(Event.id).where(*recent, Event.source == "server").limit(1))
    orders = (await session.scalars(select(Event.properties).where(
        *recent, *((Event.source == "server",) if backend is not None else ())))).all()
    baskets = [product_ids(p) for p in orders if isinstance(p, dict)]
    items, pairs, n = scoring.counts(baskets)
    viewed = (await session.scalars(select(Customer.recently_viewed))).all()
    v_items, v_pairs, v_n = scoring.counts(v for v in viewed if isinstance(v, list))
    tables = {"bought_together": scoring.related(items, pairs, n), "also_viewed": scoring.related(v_items, v_pairs, v_n)}

    await session.execute(delete(ProductRelation))
    await session.execute(delete(PopularProduct))
    rows = [{"kind": kind, "product_id": product, "related_id": s.product_id, "rank": rank, "score": s.score,
             "lift": s.lift, "together": s.together}
            for kind, table in tables.items() for product, scored in table.items()
            for rank, s in enumerate(scored, 1)]
    if rows:
        await session.execute(table(ProductRelation).insert(), rows)
    top = scoring.popular(items, top=100)
    if top:
        await session.execute(table(PopularProduct).insert(),
                              [{"rank": r, "product_id": p, "orders": items[p]} for r, p in enumerate(top, 1)])
    catalog = await _catalog(session, now)
    fed = set((await session.scalars(select(Product.product_id).where(Product.fed_at.is_not(None)))).all())
    catalog = {product_id: fields for product_id, fields in catalog.items() if product_id not in fed}
    for product_id, fields in catalog.items():
        stmt = upsert(session, Product).values(product_id=product_id, updated_at=now, **fields)
        await session.execute(stmt.on_conflict_do_update(index_elements=["product_id"],
                                                         set_={**fields, "updated_at": now}))
    await session.commit()
    return {"orders": n, "relations": len(rows), "popular": len(top), "products": len(catalog)}


async def _catalog(session: AsyncSession, now: datetime) -> dict[str, dict[str, Any]]:
    """Each product's latest name, price, link, image and category, from the shop's
    backend's events only: a browser's (the public write key) could put anyone's link
    and image into every recommendation. Product events of the last 90 days, and the
    lines of its orders of the last year (a shop that imported its history has little
    else), the latest description winning."""
    described: list[tuple[datetime, int, dict[str, Any]]] = []
    result = await session.execute(select(Event.timestamp, Event.id, Event.name, Event.properties).where(
        Event.type == "track", Event.source == "server", or_(
            and_(Event.name.in_(PRODUCT_EVENTS), Event.timestamp >= now - CATALOG_WINDOW),
            and_(Event.name == "Order Completed", Event.timestamp >= now - ORDERS_WINDOW))))
    for when, id_, name, props in result:
        if not isinstance(props, dict):
            continue
        lines = props.get("products") if name == "Order Completed" else [props]
        described.extend((when, id_, line) for line in (lines if isinstance(lines, list) else [])
                         if isinstance(line, dict))
    found: dict[str, dict[str, Any]] = {}
    for _, _, props in sorted(described, key=lambda d: (d[0], d[1])):
        product_id = _text(props.get("product_id")) or _text(props.get("sku"))
        if product_id is None:
            continue
        seen = found.setdefault(product_id, {})
        for column, key in (("name", "name"), ("category", "category")):
            if _text(props.get(key)):
                seen[column] = _text(props.get(key))
        if _price(props.get("price")) is not None:
            seen["price"] = _price(props.get("price"))
        if (days := replenish_days(props.get("replenish_days"))) is not None:
            seen["replenish_days"] = days
        for column, key in (("url", "url"), ("image_url", "image_url")):
            url = _text(props.get(key), 2048)
            if url and url.startswith(("https://", "http://")):
                seen[column] = url
    return found


# What every email showing recommendations reads, in statements built once (each
# built per call costs about as much CPU again as running it).
_RELATIONS = for_each_dialect(lambda d: select(ProductRelation).where(
    ProductRelation.kind == bindparam("kind"), among(ProductRelation.product_id, "seeds", d))
    .order_by(ProductRelation.rank))
_POPULAR = select(PopularProduct.product_id).order_by(PopularProduct.rank)
_ORDERS = for_each_dialect(lambda d: select(Event.customer_id, Event.properties).where(
    among(Event.customer_id, "ids", d), Event.type == "track", Event.name == "Order Completed").order_by(Event.id))
_PROFILES = for_each_dialect(lambda d: select(Customer.id, Customer.recently_viewed, Customer.last_order_products)
                             .where(among(Customer.id, "ids", d)))
_PRODUCTS = for_each_dialect(lambda d: select(Product).where(among(Product.product_id, "ids", d)))

async def _table(session: AsyncSession, kind: str, seeds: Iterable[str]) -> dict[str, list[scoring.Scored]]:
    seeds = list(dict.fromkeys(seeds))
    if not seeds:
        return {}
    rows = await session.execute(_RELATIONS[dialect(session)], {"kind": kind, "seeds": seeds})
    table: dict[str, list[scoring.Scored]] = {}
    for (row,) in rows:
        table.setdefault(row.product_id, []).append(scoring.Scored(row.related_id, row.score, row.lift, row.together))
    return table


async def popular(session: AsyncSession) -> list[str]:
    return list((await session.scalars(_POPULAR)).all())


async def for_product(session: AsyncSession, product_id: str, kind: str = "bought_together", *,
                      exclude: Iterable[str] = (), limit: int = 5) -> list[str]:
    """A product page's placement: its companions of `kind`, then popular ones."""
    table = await _table(session, kind, [product_id])
    return scoring.blend([product_id], table, await popular(session), exclude=exclude, limit=limit)


async def _category_of(session: AsyncSession, product_id: str) -> str | None:
    return await session.scalar(select(Product.category).where(Product.product_id == product_id))


async def _affinity(session: AsyncSession, sources: Sequence[str]) -> dict[str, float]:
    """How strongly each product goes with `sources`: its bought-together and (counting
    half) also-viewed scores with them, added up."""
    if not sources:
        return {}
    found: dict[str, float] = {}
    rows = await session.execute(select(ProductRelation.kind, ProductRelation.related_id, ProductRelation.score).where(
        ProductRelation.product_id.in_(list(sources))))
    for kind, related, score in rows:
        found[related] = found.get(related, 0.0) + score * (VIEWED_WEIGHT if kind == "also_viewed" else 1.0)
    return found


async def similar_products(session: AsyncSession, product_id: str, *, exclude: Iterable[str] = (),
                           limit: int = 5) -> list[str]:
    """Others of its category: those shoppers view and buy with it first, then the most
    ordered, then by id. Nothing for a product the catalog gives no category."""
    category = await _category_of(session, product_id)
    if category is None:
        return []
    out = {product_id, *exclude}
    same = [p for p in (await session.scalars(select(Product.product_id).where(
        Product.category == category).order_by(Product.product_id).limit(500))).all() if p not in out]
    affinity = await _affinity(session, [product_id])
    rank = {p: r for r, p in enumerate(await popular(session))}
    return sorted(same, key=lambda p: (-affinity.get(p, 0.0), rank.get(p, len(rank)), p))[:limit]


async def similar_categories(session: AsyncSession, product_id: str, *, exclude: Iterable[str] = (),
                             limit: int = 2, per_category: int = 3) -> list[dict[str, Any]]:
    """The categories shoppers of its category also buy and view (its products' bought-
    together and also-viewed companions in other categories, their scores added up),
    each with its most ordered products."""
    category = await _category_of(session, product_id)
    if category is None:
        return []
    members = list((await session.scalars(select(Product.product_id).where(
        Product.category == category).limit(500))).all())
    affinity = await _affinity(session, members)
    categories = dict((await session.execute(select(Product.product_id, Product.category).where(
        Product.product_id.in_(list(affinity)), Product.category.is_not(None)))).all()) if affinity else {}
    scores: dict[str, float] = {}
    for related, score in affinity.items():
        other = categories.get(related)
        if other and other != category:
            scores[other] = scores.get(other, 0.0) + score
    chosen = sorted(scores, key=lambda c: (-scores[c], c))[:limit]
    rank = {p: r for r, p in enumerate(await popular(session))}
    out = {product_id, *exclude}
    found = []
    for other in chosen:
        products = [p for p in (await session.scalars(select(Product.product_id).where(
            Product.category == other).limit(500))).all() if p not in out]
        found.append({"category": other, "products": sorted(
            products, key=lambda p: (rank.get(p, len(rank)), -affinity.get(p, 0.0), p))[:per_category]})
    return found


async def bought_by(session: AsyncSession, customer_id: str) -> list[str]:
    """Every product she ever ordered."""
    return (await bought_by_each(session, [customer_id]))[customer_id]


async def bought_by_each(session: AsyncSession, customer_ids: Sequence[str]) -> dict[str, list[str]]:
    """Every product each of them ever ordered, in one query."""
    found: dict[str, list[str]] = {c: [] for c in customer_ids}
    for customer, props in await session.execute(_ORDERS[dialect(session)], {"ids": list(found)}):
        if isinstance(props, dict) and customer in found:
            found[customer].extend(product_ids(props))
    return {c: list(dict.fromkeys(products)) for c, products in found.items()}


async def for_customer(session: AsyncSession, customer_id: str, kind: str = "you_may_also_like", *,
                       cart: Sequence[str] = (), exclude: Iterable[str] = (), limit: int = 5) -> list[str]:
    """Hers, never what she bought, what is in her cart (`cart`), nor `exclude` (the
    brand's): `you_may_also_like` (companions of her cart, her last order and the five
    products she viewed last), `frequently_bought_together` (of her cart),
    `previously_viewed`, `popular`."""
    return (await for_customer_kinds(session, customer_id, (kind,), cart=cart, exclude=exclude, limit=limit))[kind]


async def for_customer_kinds(session: AsyncSession, customer_id: str, kinds: Sequence[str] = KINDS, *,
                             cart: Sequence[str] = (), exclude: Iterable[str] = (),
                             limit: int = 5) -> dict[str, list[str]]:
    """`for_customer` for several kinds at once, reading her profile, her orders, the
    popular list and each relation table once (an email showing every kind)."""
    return (await for_customers_kinds(session, [(customer_id, cart)], kinds, exclude=exclude, limit=limit))[0]


async def for_customers_kinds(session: AsyncSession, wants: Sequence[tuple[str, Sequence[str]]],
                              kinds: Sequence[str] = KINDS, *, exclude: Iterable[str] = (),
                              limit: int = 5) -> list[dict[str, list[str]]]:
    """`for_customer_kinds` for several customers (each with her cart) at once: the
    same handful of queries for all of them (the emails of one moment)."""
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    ids = list(dict.fromkeys(customer_id for customer_id, _ in wants))
    profiles = {c: (list(viewed or []), list(last or []))
                for c, viewed, last in await session.execute(_PROFILES[dialect(session)], {"ids": ids})}
    bought_each = await bought_by_each(session, ids)
    fallback = await popular(session) if set(kinds) - {"previously_viewed"} else []
    excluded = set(exclude)
    seeds_of: list[dict[str, tuple[list[str], list[str]]]] = []
    for customer_id, cart in wants:
        viewed, last_order = profiles.get(customer_id, ([], []))
        seeds: dict[str, tuple[list[str], list[str]]] = {}
        for kind in kinds:
            if kind in ("previously_viewed", "popular"):
                continue
            ymal = kind == "you_may_also_like"
            viewed_seeds = viewed[:5] if ymal else []
            seeds[kind] = (list(dict.fromkeys([*cart, *(last_order if ymal else []), *viewed_seeds])), viewed_seeds)
        seeds_of.append(seeds)
    bought = await _table(session, "bought_together",
                          {s for seeds in seeds_of for kind_seeds, _ in seeds.values() for s in kind_seeds})
    also = await _table(session, "also_viewed",
                        {s for seeds in seeds_of for _, viewed_seeds in seeds.values() for s in viewed_seeds})
    answers = []
    for (customer_id, cart), seeds in zip(wants, seeds_of):
        viewed = profiles.get(customer_id, ([], []))[0]
        out = {*bought_each.get(customer_id, []), *cart, *excluded}
        found: dict[str, list[str]] = {}
        for kind in kinds:
            if kind == "previously_viewed":
                found[kind] = [p for p in viewed if p not in out][:limit]
            elif kind == "popular":
                found[kind] = [p for p in fallback if p not in out][:limit]
            else:
                kind_seeds, viewed_seeds = seeds[kind]
                # What goes with each seed in orders; for what she viewed, also what others
                # viewed with it (counting half).
                table = {seed: list(bought[seed]) for seed in kind_seeds if seed in bought}
                for product in dict.fromkeys(viewed_seeds):
                    half = [scoring.Scored(s.product_id, s.score * VIEWED_WEIGHT, s.lift, s.together)
                            for s in also.get(product, [])]
                    if half:
                        table[product] = [*table.get(product, []), *half]
                found[kind] = scoring.blend(kind_seeds, table, fallback, exclude=out, limit=limit)
        answers.append(found)
    return answers


async def described(session: AsyncSession, product_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Product records in the given order, for templates and the storefront; a product
    the catalog doesn't know yet is just its id."""
    known = {p.product_id: p for p in (await session.scalars(
        _PRODUCTS[dialect(session)], {"ids": list(product_ids)})).all()} if product_ids else {}
    return [{"product_id": pid, "name": known[pid].name if pid in known else None,
             "price": known[pid].price if pid in known else None, "url": known[pid].url if pid in known else None,
             "image_url": known[pid].image_url if pid in known else None,
             "category": known[pid].category if pid in known else None} for pid in product_ids]


async def lasting(session: AsyncSession, product_ids: Sequence[str]) -> dict[str, int]:
    """How many days each of these products lasts, for those the catalog knows."""
    if not product_ids:
        return {}
    rows = await session.execute(select(Product.product_id, Product.replenish_days).where(
        Product.product_id.in_(list(product_ids)), Product.replenish_days.is_not(None)))
    return {product_id: int(days) for product_id, days in rows if days is not None}


async def feed(session: AsyncSession, product_id: str, fields: dict[str, Any]) -> None:
    """The product feed's record of one product (a server key): from now on its
    catalog fields come from the feed only."""
    now = utcnow()
    values = {"name": _text(fields.get("name")), "category": _text(fields.get("category")),
              "price": _price(fields.get("price")), "url": _text(fields.get("url"), 2048),
              "image_url": _text(fields.get("image_url"), 2048),
              "replenish_days": replenish_days(fields.get("replenish_days"))}
    stmt = upsert(session, Product).values(product_id=product_id, updated_at=now, fed_at=now, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["product_id"],
                                                     set_={**values, "updated_at": now, "fed_at": now}))
