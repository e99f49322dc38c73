"""CORS for the shop's pages: only the origins in `settings.browser_origins`.

analytics.js posts `text/plain` with an `Authorization` header, so a browser asks
first (a preflight) and needs these headers allowed. No cookies are involved: the
SDK's fetches carry no credentials, and neither may a page's.

Built on the first request, from the app's settings (known only once its lifespan
has started), with Starlette's own middleware doing the work.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

ALLOWED_HEADERS = ["Authorization", "Content-Type", "Content-Encoding", "X-Retry-Count", "X-Sojourn-Token",
                   "X-Sojourn-Anonymous-Token"]
ALLOWED_METHODS = ["GET", "POST", "DELETE"]
CODEC_PATH = "/v1/temporal/codec/"


class ShopCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._cors: CORSMiddleware | None = None
        self._codec: CORSMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._cors is None:
            settings = scope["app"].state.settings
            self._cors = CORSMiddleware(
                self.app,
                allow_origins=settings.browser_origins,
                allow_methods=ALLOWED_METHODS,
                allow_headers=ALLOWED_HEADERS,
                allow_credentials=False,
                max_age=600,
            )
            # The codec endpoint answers the Temporal UI, with the operator's sign-in.
            self._codec = CORSMiddleware(
                self.app,
                allow_origins=settings.temporal_ui_origins,
                allow_methods=["POST"],
                allow_headers=["Authorization", "Content-Type", "X-Namespace"],
                allow_credentials=True,
                max_age=600,
            )
        codec = self._codec if scope.get("path", "").startswith(CODEC_PATH) else None
        await (codec or self._cors)(scope, receive, send)
