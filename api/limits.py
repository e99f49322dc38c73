"""Rate limits for what the public write key can do many times over: claim anonymous
tokens (an anonymous id costs nothing) and spin wheels. Counted per client address with
the `limits` library, `SOJOURN_BROWSER_RATE_LIMIT` per route (20 a minute and 200 an
hour by default); past it, 429 with Retry-After.

The client address is the connection's, or, when the connection comes from one of
`SOJOURN_TRUSTED_PROXIES`, the last address in X-Forwarded-For that is not one of them.
Counts live in `SOJOURN_RATE_LIMIT_STORAGE`: per API process in memory by default;
`redis://...` shares them between processes.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from api.deps import SettingsDep, _basic_username, one_of
from sojourn.ground.settings import Settings


class Limiter:
    def __init__(self, settings: Settings, limit: str | None = None) -> None:
        self.items: list[RateLimitItem] = parse_many(limit or settings.browser_rate_limit)
        # The async flavour of the same storage: "memory://" is "async+memory://".
        storage = storage_from_string(f"async+{settings.rate_limit_storage}")
        assert isinstance(storage, Storage)
        self.limiter = MovingWindowRateLimiter(storage)
        self.proxies = set(settings.trusted_proxies)

    def client(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        if peer not in self.proxies:
            return peer
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        outside = [h for h in hops if h not in self.proxies]
        return outside[-1] if outside else peer

    async def check(self, request: Request, route: str) -> None:
        client = self.client(request)
        for item in self.items:
            if not await self.limiter.hit(item, route, client):
                stats = await self.limiter.get_window_stats(item, route, client)
                wait = max(1, int(stats.reset_time - time.time()))
                raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                    f"too many requests from this address: {item} for this route",
                                    headers={"Retry-After": str(wait)})


async def browser_limit(request: Request, settings: SettingsDep) -> None:
    """The route's count for this client address (a dependency); the shop's backend
    (a server key) is not counted."""
    key = _basic_username(request)
    if key is not None and one_of(key, settings.server_keys):
        return
    if getattr(request.app.state, "limiter", None) is None:
        request.app.state.limiter = Limiter(settings)
    route = getattr(request.scope.get("route"), "path", request.url.path)
    await request.app.state.limiter.check(request, route)


BrowserLimit = Annotated[None, Depends(browser_limit)]


async def test_send_limit(request: Request, settings: SettingsDep) -> None:
    """A marketer's test sends, per client address (`SOJOURN_CONTENT_TEST_RATE_LIMIT`):
    a test goes to any address she types, so a leaked marketer key must not become a
    way to mail the world."""
    if getattr(request.app.state, "test_limiter", None) is None:
        request.app.state.test_limiter = Limiter(settings, settings.content_test_rate_limit)
    await request.app.state.test_limiter.check(request, "content-test")


TestSendLimit = Annotated[None, Depends(test_send_limit)]
