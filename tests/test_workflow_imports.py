"""Workflows stay deterministic and light: nothing under workflows/ imports an I/O
library, directly or through what it imports from the project."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What workflow code may import. Everything with side effects lives in activities/.
ALLOWED = {"__future__", "asyncio", "collections", "dataclasses", "datetime", "typing", "temporalio",
           "workflows", "activities.contracts", "enum", "hashlib", "zoneinfo", "math", "fnmatch"}
IO_MODULES = ["aiosmtplib", "pywebpush", "aiohttp", "sqlalchemy", "asyncpg", "aiosqlite", "jinja2",
              "httpx", "requests", "smtplib", "py_vapid", "fastapi", "sojourn.db"]


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_workflow_modules_import_only_deterministic_code() -> None:
    for path in [*(ROOT / "workflows").glob("*.py"), ROOT / "activities" / "contracts.py"]:
        for module in imports_of(path):
            assert any(module == ok or module.startswith(ok + ".") for ok in ALLOWED), f"{path.name} imports {module}"


def test_loading_every_journey_loads_no_io_library() -> None:
    code = (
        "import sys, workflows.registry\n"
        f"print(sorted(m for m in {IO_MODULES!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_kit_module_is_passed_through_the_sandbox() -> None:
    """A kit module left out of worker.KIT_MODULES still works, but is re-imported for
    every new run (bench/worker_cost.py): a split of the kit must not slow it down."""
    from worker import KIT_MODULES
    from workflows.registry import JOURNEYS

    def tells_a_journey(module: str) -> bool:  # a journey's own file, registered or not
        return any(getattr(v, "spec", None) is not None and getattr(v, "__module__", None) == module
                   for v in vars(importlib.import_module(module)).values() if isinstance(v, type))

    journey_files = {j.__module__ for j in JOURNEYS}
    kit = {f"workflows.{p.stem}" for p in (ROOT / "workflows").glob("*.py")
           if p.stem not in ("__init__", "registry") and not tells_a_journey(f"workflows.{p.stem}")}
    kit -= journey_files
    assert kit <= set(KIT_MODULES), kit - set(KIT_MODULES)
