"""docker-compose.yml can't run here (no Docker engine), so check it statically:
every service's command points at code that exists, and the API, the workers and
the migration job share one block of settings that Settings understands."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import yaml

from sojourn.devtools.cli import main as cli_main
from sojourn.ground.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SOJOURN = ("api", "worker", "migrate")


def test_the_deployment_has_every_part() -> None:
    assert {"temporal", "temporal-db", "temporal-ui", "db", "mailpit", *SOJOURN} <= set(SERVICES)
    assert SERVICES["temporal"]["environment"]["DB"].startswith("postgres")
    assert SERVICES["worker"]["deploy"]["replicas"] >= 1


def test_prometheus_scrapes_the_api_and_every_worker() -> None:
    scrape = yaml.safe_load(COMPOSE["configs"]["prometheus"]["content"])["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert jobs["sojourn-api"]["static_configs"][0]["targets"] == ["api:8000"]  # /metrics, the default path
    assert jobs["sojourn-api"]["authorization"]["credentials"].startswith("${PROMETHEUS_OPERATOR_KEY")
    [workers] = jobs["sojourn-worker"]["dns_sd_configs"]
    assert (workers["names"], workers["port"]) == (["worker"], int(Settings().worker_metrics_address.rsplit(":", 1)[1]))
    assert SERVICES["prometheus"]["configs"][0]["target"] == "/etc/prometheus/prometheus.yml"


def test_the_workers_metrics_listen_on_loopback_unless_configured() -> None:
    """#26.13: the endpoint has no authentication; only the compose network opens it."""
    import ipaddress

    host = Settings.model_fields["worker_metrics_address"].default.rsplit(":", 1)[0]
    assert ipaddress.ip_address(host).is_loopback, host
    assert SERVICES["worker"]["environment"]["SOJOURN_WORKER_METRICS_ADDRESS"] == "0.0.0.0:9464"
    assert "ports" not in SERVICES["worker"], "scraped over the compose network, never published"


def test_api_workers_and_migrations_get_the_same_settings() -> None:
    envs = [SERVICES[name]["environment"] for name in SOJOURN]
    assert envs[0] == envs[1] == envs[2]
    fields = set(Settings.model_fields)
    for key in envs[0]:
        assert key.startswith("SOJOURN_") and key.removeprefix("SOJOURN_").lower() in fields, key
    assert "@db:5432/" in envs[0]["SOJOURN_DATABASE_URL"]
    assert envs[0]["SOJOURN_TEMPORAL_ADDRESS"] == "temporal:7233"


def test_each_command_points_at_code_that_exists() -> None:
    api = SERVICES["api"]["command"]
    assert api[0] == "uvicorn"
    module, attr = api[1].split(":")
    assert hasattr(importlib.import_module(module), attr)

    worker = SERVICES["worker"]["command"]
    assert worker[:1] == ["python"] and (ROOT / worker[1]).is_file()
    assert "async def main" in (ROOT / worker[1]).read_text()

    migrate = SERVICES["migrate"]["command"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert migrate[0] in scripts
    try:
        cli_main([migrate[1], "--help"])
    except SystemExit as exc:  # argparse exits 0 after --help for a known subcommand
        assert exc.code == 0


def test_the_image_contains_what_the_commands_need() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+)", dockerfile, re.M))
    for needed in ("sojourn", "workflows", "activities", "api", "worker.py", "migrations", "templates"):
        assert needed in copied, needed
        assert (ROOT / needed).exists()
    for name in SOJOURN:
        assert SERVICES[name]["build"] == "."
