"""The demo shop `make dev` serves (http://localhost:3000): a storefront page on its
own origin, so a newcomer can play Lisa's story in a real browser: look at a
product, allow notifications, add it to her cart, leave. The greeting bar comes from
the first-purchase incentive; the push from cart abandonment, via the local push
inbox (sojourn/devtools/pushinbox.py), and the page lists what the inbox received.

It plays the shop's part honestly: the page tracks with Segment's analytics.js
(@segment/analytics-next, when npm has installed it into tests/browser; else a few
lines that speak the same wire format) and draws on-site messages with sojourn.js;
its "backend" signs the shopper's customer token with the identity secret, as a
shop's backend would. Development only: it signs in whoever asks.
"""

from __future__ import annotations

import argparse
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sojourn.ground.signing import customer_token

PAGE = Path(__file__).with_name("shop.html")
# Where `npm ci --prefix tests/browser` puts Segment's browser build.
SDK_DIR = Path(__file__).resolve().parents[3] / "tests" / "browser" / "node_modules" / "@segment" / \
    "analytics-next" / "dist" / "umd"
PRODUCTS = [
    {"product_id": "lip-42", "name": "Velvet Lipstick", "price": 24, "category": "Lips"},
    {"product_id": "serum-9", "name": "Glow Serum", "price": 32, "category": "Skincare"},
    {"product_id": "mascara-3", "name": "Volume Mascara", "price": 19, "category": "Eyes"},
]

# The demo's past (sojourn/devtools/planted_shop.py over the catalog): enough orders
# for the likelihood model to train, so Lisa's page shows her chance to buy.
PAST_SHOPPERS, PAST_DAYS, PAST_PREFIX = 400, 60, "demo-past"

LAPSED_AFTER = timedelta(days=60)  # workflows/segments.py's LAPSE (the demo may not import workflows)

# The marketer's stories at the top of the demo's home page (make dev stores them).
STORIES: list[dict[str, Any]] = [
    {"story_id": "demo-sale", "title": "Winter sale", "kind": "campaign", "path": "/?story=sale", "category": None},
    {"story_id": "demo-lips", "title": "Lips", "kind": "collection", "path": "/?story=lips", "category": "Lips"},
    {"story_id": "demo-skincare", "title": "Skincare", "kind": "collection", "path": "/?story=skincare",
     "category": "Skincare"},
    {"story_id": "demo-eyes", "title": "Eyes", "kind": "collection", "path": "/?story=eyes", "category": "Eyes"},
]


async def stock(session: Any, shop_url: str) -> None:
    """The demo's catalog (names and categories, as a shop's product feed gives them) and
    its stories, unless a marketer has changed them already."""
    from sojourn.ground.models import Story
    from sojourn.intelligence import catalog, stories

    for product in PRODUCTS:
        await catalog.feed(session, str(product["product_id"]), {
            "name": product["name"], "price": product["price"], "category": product["category"],
            "url": f"{shop_url.rstrip('/')}/?product={product['product_id']}"})
    for position, story in enumerate(STORIES):
        if await session.get(Story, story["story_id"]) is None:
            await stories.put(session, str(story["story_id"]), {
                "title": story["title"], "kind": story["kind"], "url": f"{shop_url.rstrip('/')}{story['path']}",
                "image_url": None, "category": story["category"], "position": position, "active": True})


async def stock_past(session: Any, now: datetime) -> int:
    """The demo shop's past shoppers, once: returns how many events were stored (0 when
    it has them already)."""
    from sojourn.devtools import planted_shop
    from sojourn.ground.models import Customer

    if await session.get(Customer, f"{PAST_PREFIX}-0") is not None:
        return 0
    catalog = tuple((str(p["product_id"]), str(p["category"])) for p in PRODUCTS)
    found = planted_shop.events(PAST_SHOPPERS, PAST_DAYS, now, prefix=PAST_PREFIX, products=catalog)
    await planted_shop.store(session, found, now)
    return len(found)


def shopper(request: Request) -> str:
    """Who the page signs in: ?as=NAME (letters, digits, - and _), else lisa."""
    name = request.query_params.get("as", "lisa").strip().lower()
    return name if name and len(name) <= 40 and all(c.isalnum() or c in "-_" for c in name) else "lisa"


def make_app(*, api_url: str, write_key: str, identity_secret: str, inbox_url: str,
             sdk_dir: Path | None = SDK_DIR, server_key: str = "") -> Starlette:
    """`api_url`: Sojourn as the browser reaches it (app.state.api_url, which a test may
    set once the API has its port); `inbox_url`: the push inbox, which this server talks
    to for the page (it stands in for the browser's push service)."""
    has_sdk = sdk_dir is not None and (sdk_dir / "index.js").exists()

    async def page(request: Request) -> HTMLResponse:
        user_id = shopper(request)
        config = {
            "api": request.app.state.api_url.rstrip("/"), "writeKey": write_key, "userId": user_id,
            "token": customer_token(user_id, identity_secret),
            "traits": {"email": f"{user_id}@example.com", "firstName": user_id.replace("-", " ").title()},
            "products": PRODUCTS, "analyticsNext": has_sdk,
        }
        # </ can't close the script element from inside the JSON.
        html = PAGE.read_text().replace("__CONFIG__", json.dumps(config).replace("</", "<\\/"))
        return HTMLResponse(html)

    async def allow_push(request: Request) -> Response:
        """"Allow notifications": a browser for her in the push inbox, registered with Sojourn."""
        async with aiohttp.ClientSession() as http, \
                http.post(f"{inbox_url}/subscribe", params={"customer": shopper(request)}) as answer:
            return JSONResponse(await answer.json(content_type=None), status_code=answer.status)

    async def pushes(request: Request) -> Response:
        """The pushes her browsers in the inbox received, newest first."""
        mine = f"{shopper(request)}-"
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{inbox_url}/pushes") as answer:
                received = await answer.json()
        except aiohttp.ClientError as err:
            return JSONResponse({"error": f"the push inbox at {inbox_url} is not answering: {err}"}, status_code=502)
        return JSONResponse([p["payload"] for p in reversed(received) if p["browser"].startswith(mine)])

    async def lapse(request: Request) -> Response:
        """"Her last order was two months ago": the shop's backend tells Sojourn of an order
        that turns 60 days old in a few seconds (a backdated event: history, it starts
        nothing); the segment sweep then finds she has lapsed, and the win-back begins."""
        if not server_key:
            return JSONResponse({"error": "the demo shop was started without --server-key"}, status_code=503)
        user_id = shopper(request)
        ordered = datetime.now(UTC) - LAPSED_AFTER + timedelta(seconds=3)
        order = {"userId": user_id, "event": "Order Completed", "messageId": f"past-{user_id}-{ordered.timestamp()}",
                 "timestamp": ordered.isoformat(), "properties": {
                     "order_id": f"past-{user_id}-{int(ordered.timestamp())}", "revenue": 32,
                     "products": [{"product_id": "serum-9", "name": "Glow Serum", "price": 32, "quantity": 1}]}}
        async with aiohttp.ClientSession() as http, http.post(
                f"{request.app.state.api_url.rstrip('/')}/v1/track", json=order,
                headers={"Authorization": "Basic " + base64.b64encode(f"{server_key}:".encode()).decode()}) as answer:
            if answer.status != 200:
                return JSONResponse({"error": await answer.text()}, status_code=502)
        return JSONResponse({"lapses_at": (ordered + LAPSED_AFTER).isoformat()})

    async def service_worker(request: Request) -> Response:
        # A real shop's one-line worker (docs/storefront.md); the demo's pushes go to the inbox.
        return PlainTextResponse(f'importScripts({json.dumps(request.app.state.api_url.rstrip("/") + "/v1/sojourn-sw.js")});\n',
                                 media_type="text/javascript")

    routes: list[Any] = [
        Route("/", page), Route("/cart", page), Route("/new", page), Route("/checkout/success", page),
        Route("/allow-push", allow_push, methods=["POST"]), Route("/pushes", pushes),
        Route("/lapse", lapse, methods=["POST"]),
        Route("/sojourn-sw.js", service_worker),
    ]
    if has_sdk:
        routes.append(Mount("/sdk", StaticFiles(directory=sdk_dir)))
    app = Starlette(routes=routes)
    app.state.api_url = api_url
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m sojourn.devtools.demoshop", description=__doc__)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--write-key", required=True)
    parser.add_argument("--identity-secret", required=True)
    parser.add_argument("--inbox-url", required=True)
    parser.add_argument("--server-key", default="", help="the shop's backend's key, for 'her last order'")
    args = parser.parse_args(argv)
    app = make_app(api_url=args.api_url, write_key=args.write_key, identity_secret=args.identity_secret,
                   inbox_url=args.inbox_url, server_key=args.server_key)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
