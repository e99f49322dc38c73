"""Real browsers and real HTTP for the storefront tests.

Chromium is Debian's (`apt-get install chromium`; .ci/run does it), driven by
Playwright with `executable_path`: Playwright's own browser download is not
reachable here. The Segment SDK comes from npm (tests/browser, `make test` installs
it). Apps are served by uvicorn on a real socket, because a browser needs one.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

ROOT = Path(__file__).resolve().parents[2]
SDK_DIR = ROOT / "tests" / "browser" / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:  # said in the summary (-ra): these tests did not run
        pytest.skip("no Chromium found, browser tests skipped: apt-get install chromium (.ci/run does)")
    return found


def sdk_dir() -> Path:
    if not (SDK_DIR / "index.js").exists():
        pytest.fail("@segment/analytics-next is missing: make test runs npm ci in tests/browser", pytrace=False)
    return SDK_DIR


@asynccontextmanager
async def served(make_app: Callable[[str], Any]) -> AsyncIterator[str]:
    """Serve an ASGI app (lifespan included) on 127.0.0.1 at a free port, yielding its
    origin. The app is made once the port is bound: an API must know its public URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(make_app(origin), log_level="warning", lifespan="on"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # pytest owns the signals
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        yield origin
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Shop:
    """A storefront origin and Sojourn's API, each on its own port, and a Chromium."""

    api: str
    shop: str
    browser: Any


@asynccontextmanager
async def shop_and_api(shop_app: Any, settings: Any, client: Any, **api_settings: Any) -> AsyncIterator[Shop]:
    """The shop's pages on one origin; Sojourn's API on another, knowing its own URL and
    allowing the shop's origin (CORS), with `api_settings` on top."""
    from api.main import create_app

    async with served(lambda _: shop_app) as shop_origin, chromium() as browser:
        def api(origin: str) -> Any:
            conf = settings.model_copy(update={"public_url": origin, "cors_origins": [shop_origin],
                                               "store_url": shop_origin, **api_settings})
            return create_app(conf, temporal=client)

        async with served(api) as api_origin:
            yield Shop(api=api_origin, shop=shop_origin, browser=browser)


@asynccontextmanager
async def served_api(client: Any, settings: Any, **update: Any) -> AsyncIterator[str]:
    """Sojourn's API served on a free port (a browser's origin), knowing its own URL."""
    from api.main import create_app

    async with served(lambda origin: create_app(settings.model_copy(update={"public_url": origin, **update}),
                                                temporal=client)) as origin:
        yield origin


@asynccontextmanager
async def served_with_worker(client: Any, settings: Any, sessions: Any, **update: Any) -> AsyncIterator[str]:
    """The API served on a free port and a worker, both on the settings with `update`
    (what the router copies into a run's input, such as searchable_steps, is the API's)."""
    from worker import build_worker

    mine = settings.model_copy(update=update)
    async with build_worker(client, mine, sessions), served_api(client, mine) as origin:
        yield origin


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium; each test opens its own context (no shared storage)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                   args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(shop: Shop, path: str, customer_id: str, then: str = "") -> tuple[Any, Any]:
    """A new browser context on the shop's `path`, with sojourn.js started for her
    signed in (her customer token), then `then` (".then(() => Sojourn.productPage())")."""
    from api.proof import customer_token
    from tests.conftest import IDENTITY_SECRET, WRITE_KEY

    context = await shop.browser.new_context()
    page = await context.new_page()
    await page.goto(shop.shop + path)
    await page.evaluate(f"options => Sojourn.init(options){then}", {
        "host": shop.api, "writeKey": WRITE_KEY, "userId": customer_id,
        "token": customer_token(customer_id, IDENTITY_SECRET)})
    return context, page
