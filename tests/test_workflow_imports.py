"""Workflows stay deterministic and light: nothing under workflows/ imports an I/O
library, directly or through what it imports from the project. (The import-linter
contracts in pyproject.toml say the same for the whole package; these tests also
look at what loading the journeys really loads.)"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What workflow code may import. Everything with side effects lives in activities/.
STDLIB = {"__future__", "asyncio", "collections", "dataclasses", "datetime", "typing", "temporalio", "enum", "hashlib",
          "zoneinfo", "math", "fnmatch"}
IO_MODULES = ["aiosmtplib", "pywebpush", "aiohttp", "sqlalchemy", "asyncpg", "aiosqlite", "jinja2",
              "httpx", "requests", "smtplib", "py_vapid", "fastapi", "sojourn.ground.db"]


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from sojourn.ground import calendar` imports the module sojourn.ground.calendar
            found |= {f"{node.module}.{alias.name}" if importlib.util.find_spec(node.module).submodule_search_locations
                      and importlib.util.find_spec(f"{node.module}.{alias.name}") else node.module
                      for alias in node.names}
    return found


def module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_workflow_modules_import_only_deterministic_code() -> None:
    from worker import PURE_GROUND

    allowed = STDLIB | {"workflows", *PURE_GROUND}
    pure = [ROOT / (name.replace(".", "/") + ".py") for name in PURE_GROUND]
    for path in [*(ROOT / "workflows").rglob("*.py"), *pure]:
        for module in imports_of(path):
            ok = any(module == ok or module.startswith(ok + ".") for ok in allowed)
            assert ok, f"{module_of(path)} imports {module}"


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
    kit = {module_of(p) for p in (ROOT / "workflows").rglob("*.py")
           if p.stem != "registry" and not tells_a_journey(module_of(p))}
    kit -= journey_files | {"workflows", "workflows.journeys"}

    def passed(module: str) -> bool:  # the sandbox passes a module through with its package
        return any(module == p or module.startswith(p + ".") for p in KIT_MODULES)

    assert all(passed(m) for m in kit), {m for m in kit if not passed(m)}
