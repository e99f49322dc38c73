"""A package that installs: the wheel, installed alone (no -e) in a fresh venv, run
from a directory outside the checkout, imports every module and runs `sojourn --help`.

The packages used to be listed by hand in pyproject.toml, and one was left out: a plain
`pip install .` gave an API that could not import. setuptools now finds them; this test
is what would notice a module or a package-data file the wheel leaves behind. The fresh
venv borrows the project venv's dependencies through a path file (installing them again
would take minutes and the network), never its editable Sojourn: that one is reached
only through a finder its own site directory loads, which the fresh venv never does."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sojourn", "workflows", "activities", "api")
DATA = ("api/static/sojourn.js", "api/static/sojourn-sw.js", "api/static/dashboard.js", "api/pages/base.html",
        "sojourn/devtools/demoshop/shop.html")


def tracked_modules() -> set[str]:
    files = subprocess.run(["git", "ls-files", *PACKAGES, "worker.py"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    return {f for f in files if f.endswith(".py")}


def test_the_wheel_installs_alone_and_imports_every_module(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(dist), str(ROOT)], check=True, capture_output=True, text=True)
    [wheel] = dist.glob("sojourn-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(tracked_modules() - inside) + [f for f in DATA if f not in inside]
    assert not missing, f"the wheel leaves out {missing}"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True, text=True)

    modules = sorted(".".join(Path(f).with_suffix("").parts).removesuffix(".__init__")
                     for f in tracked_modules() if not f.endswith("__main__.py"))
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({m: getattr(sys.modules[m], '__file__', '') for m in ('sojourn', 'api.main', 'worker')}))\n"
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    imported = subprocess.run([str(python), "-c", code], cwd=outside, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr[-3000:]
    for module, file in json.loads(imported.stdout).items():
        assert Path(file).is_relative_to(venv), f"{module} came from {file}, not the installed wheel"

    helped = subprocess.run([str(venv / "bin" / "sojourn"), "--help"], cwd=outside, capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert "migrate" in helped.stdout and "worker" in helped.stdout

    # The Docker image's layout: the wheel installed, migrations/ and templates/ where it runs.
    shutil.copytree(ROOT / "migrations", outside / "migrations")
    shutil.copytree(ROOT / "templates", outside / "templates")
    database = outside / "shop.db"
    migrated = subprocess.run([str(venv / "bin" / "sojourn"), "migrate"], cwd=outside, capture_output=True, text=True,
                              env={**os.environ, "SOJOURN_DATABASE_URL": f"sqlite+aiosqlite:///{database}"})
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    with sqlite3.connect(database) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"events", "customers", "messages", "journey_runs"} <= tables, tables
