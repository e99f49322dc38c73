"""The thin FastAPI app: accepts events and starts or signals journeys.

    uvicorn api.main:app      (or `sojourn api`)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from temporalio.client import Client

from api.ingest import Ingestor
from api.routes import api_router
from api.routing import JourneysUnavailable, Router
from api.segment import BadRequest
from sojourn.db import make_engine, make_sessionmaker
from sojourn.settings import Settings, get_settings
from sojourn.temporal import connect
from workflows.registry import JOURNEYS

log = logging.getLogger("sojourn.api")


def create_app(
    settings: Settings | None = None, temporal: Client | None = None, journeys: tuple[type, ...] = JOURNEYS
) -> FastAPI:
    """`temporal` may be handed in (tests); otherwise the app connects at start-up.
    `journeys`: what the API routes to (the registry's, unless a test adds its own)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conf = settings or get_settings()
        engine = make_engine(conf.database_url)
        # Lazy: the API starts (and stores events) even before Temporal is reachable.
        client = temporal or await connect(conf, lazy=True)
        app.state.settings = conf
        app.state.sessions = make_sessionmaker(engine)
        app.state.ingestor = Ingestor(app.state.sessions, Router(client, conf, app.state.sessions, journeys))
        app.state.vapid_keys = None
        app.state.temporal = client
        if not conf.write_keys:
            log.warning("SOJOURN_WRITE_KEYS is empty: every ingestion call will get 401")
        sweeper = (
            asyncio.create_task(app.state.ingestor.reroute_forever(conf.reroute_interval_seconds))
            if conf.reroute_interval_seconds > 0 else None
        )
        yield
        if sweeper is not None:
            sweeper.cancel()
        await engine.dispose()

    app = FastAPI(title="Sojourn", version="0.1.0", lifespan=lifespan)
    app.include_router(api_router)

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"success": False, "error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return JSONResponse({"success": False, "error": f"{where}: {first['msg']}"}, status_code=400)

    @app.exception_handler(JourneysUnavailable)
    async def temporal_down(_: Request, exc: JourneysUnavailable) -> JSONResponse:
        # The messages are stored; a retry with the same messageIds routes them once.
        log.error("routing to Temporal failed: %s", exc)
        return JSONResponse(
            {"success": False, "error": "journeys are unavailable right now; retry the request"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app()
