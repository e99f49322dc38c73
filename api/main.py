"""The thin FastAPI app: accepts events and stores them; the pipeline's router
(sojourn/pipeline) starts or signals journeys from what was stored.

    uvicorn api.main:app      (or `sojourn api`)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from temporalio.client import Client

from api.calls import BadRequest
from api.cors import ShopCors
from api.metrics import RequestMetrics
from api.routes import api_router
from sojourn.content.store import ContentStore
from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.settings import Settings, get_settings
from sojourn.ground.spec import check_journey_settings
from sojourn.ground.temporal import connect
from sojourn.pipeline.membership import Watch
from sojourn.pipeline.router import Router
from sojourn.pipeline.store import Store
from workflows.kit.journey import Journey
from workflows.registry import JOURNEYS

log = logging.getLogger("sojourn.api")


def create_app(
    settings: Settings | None = None, temporal: Client | None = None, journeys: tuple[type[Journey], ...] = JOURNEYS
) -> FastAPI:
    """`temporal` may be handed in (tests); otherwise the app connects at start-up.
    `journeys`: what the router routes to (the registry's, unless a test adds its own)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conf = settings or get_settings()
        check_journey_settings([j.spec for j in journeys], conf)  # a typo stops start-up
        engine = make_engine(conf.database_url, conf.database_pool_size, conf.database_pool_timeout_seconds)
        # Lazy: the API starts (and stores events) even before Temporal is reachable.
        client = temporal or await connect(conf, lazy=True)
        app.state.settings = conf
        app.state.sessions = make_sessionmaker(engine)
        router = Router(client, conf, app.state.sessions, [j.spec for j in journeys])
        app.state.router = router
        app.state.journeys = tuple(journeys)
        app.state.store = Store(app.state.sessions, router.wants, router.notify if conf.router else lambda: None,
                                Watch.of(router.specs), entry_window=timedelta(seconds=conf.entry_window_seconds))
        app.state.vapid_keys = None
        # The marketer's content (sojourn/content/store.py): wheels, previews, publishing.
        app.state.content = ContentStore(app.state.sessions, conf.templates_dir)
        app.state.temporal = client
        if not conf.write_keys:
            log.warning("SOJOURN_WRITE_KEYS is empty: every ingestion call will get 401")
        routing = asyncio.create_task(router.run_forever()) if conf.router else None
        try:
            yield
        finally:  # also when the app stops on an error: no router may outlive it
            if routing is not None:
                routing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await routing
            await engine.dispose()

    # No redirect to the path without its trailing slash: an id that decodes to "/"
    # (GET /v1/customers/%2F) is a 404, not a 307 to another endpoint, and a POST is
    # never bounced for a client to send again.
    app = FastAPI(title="Sojourn", version="0.1.0", lifespan=lifespan, redirect_slashes=False)
    app.include_router(api_router)
    app.add_middleware(ShopCors)
    app.add_middleware(RequestMetrics)  # outermost: every answer counted, CORS preflights too

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"success": False, "error": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        limit = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
        if exc.status_code == 413 and limit is not None:  # FastAPI's body cap: say which
            return JSONResponse({"success": False, "error": f"request body is over the {limit}-byte limit"},
                                status_code=413)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return JSONResponse({"success": False, "error": f"{where}: {first['msg']}"}, status_code=400)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(OSError)
    @app.exception_handler(PoolTimeout)  # every pooled connection busy for pool_timeout
    async def database_down(_: Request, exc: Exception) -> JSONResponse:
        # Nothing was committed; the SDK's retry (same messageIds) stores it once.
        log.error("database unavailable: %s", exc)
        return JSONResponse({"success": False, "error": "the database is unavailable right now; retry the request"},
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(DataError)
    async def refused_by_database(_: Request, exc: DataError) -> JSONResponse:
        # Validation should have caught it; name what the database said, never a 500.
        log.warning("database refused a value: %s", exc.orig)
        return JSONResponse({"success": False, "error": f"a value was refused: {str(exc.orig)[:200]}"},
                            status_code=400)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app()
