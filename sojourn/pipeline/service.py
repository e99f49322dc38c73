"""`sojourn router`: the router as its own process, beside API replicas that run
with SOJOURN_ROUTER=false (or beside ones that route too: they share the work)."""

from __future__ import annotations

from sojourn.db import make_engine, make_sessionmaker
from sojourn.pipeline.router import Router
from sojourn.settings import Settings
from sojourn.temporal import connect
from workflows.registry import specs


async def main(settings: Settings) -> None:
    engine = make_engine(settings.database_url, settings.database_pool_size, settings.database_pool_timeout_seconds)
    client = await connect(settings, lazy=True)
    try:
        await Router(client, settings, make_sessionmaker(engine), specs()).run_forever()
    finally:
        await engine.dispose()
