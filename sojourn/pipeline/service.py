"""`sojourn router`: the router as its own process, beside API replicas that run
with SOJOURN_ROUTER=false (or beside ones that route too: they share the work)."""

from __future__ import annotations

from collections.abc import Sequence

from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.settings import Settings
from sojourn.ground.spec import JourneySpec
from sojourn.ground.temporal import connect
from sojourn.pipeline.router import Router


async def main(settings: Settings, specs: Sequence[JourneySpec]) -> None:
    """Route to the journeys `specs` declares (the CLI hands it the registry's)."""
    engine = make_engine(settings.database_url, settings.database_pool_size, settings.database_pool_timeout_seconds)
    client = await connect(settings, lazy=True)
    try:
        await Router(client, settings, make_sessionmaker(engine), specs).run_forever()
    finally:
        await engine.dispose()
