"""Publish time before and after: ``publish()`` of a baseline commit vs this checkout.

    python -m benchmarks.publish_ab --home H [--baseline REV] [--rounds 3]

Both publish every mart of ``H``'s warehouse (a home built by ``segmart run``, read-only)
into their own scratch homes (the warehouse linked in, nothing of ``H`` written),
alternating baseline / current ``--rounds`` times so that the machine's load hits both
alike. Prints per round the wall seconds and the bytes the serving folder holds (hard links
counted once), then the medians. The baseline's ``pipelines/serving/publish.py`` is loaded
from git (``git show REV:...``) beside the current one.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from pipelines.core.settings import REPO_ROOT
from pipelines.serving.publish import publish as current_publish

MODULE_PATH = "pipelines/serving/publish.py"


def load_baseline(rev: str):
    source = subprocess.run(
        ["git", "show", f"{rev}:{MODULE_PATH}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    spec = importlib.util.spec_from_loader(f"publish_{rev}", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    exec(compile(source, f"{rev}:{MODULE_PATH}", "exec"), module.__dict__)  # noqa: S102
    return module


def marts_of(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
        ).fetchall()
    return [r[0] for r in rows]


def bytes_on_disk(folder: Path) -> int:
    seen, total = set(), 0
    for path in folder.rglob("*"):
        if path.is_file():
            st = path.stat()
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def scratch_home(root: Path, warehouse: Path) -> Path:
    home = Path(tempfile.mkdtemp(dir=root))
    (home / "warehouse").mkdir()
    os.symlink(warehouse, home / "warehouse" / "segmart.duckdb")
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--baseline", default="38a8ee8", help="commit before issue 20.3")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    warehouse = (args.home / "warehouse" / "segmart.duckdb").resolve()
    marts = marts_of(warehouse)
    sides = {"baseline": load_baseline(args.baseline).publish, "current": current_publish}
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in sides}
    root = Path(tempfile.mkdtemp(prefix="publish_ab_"))
    try:
        for round_ in range(1, args.rounds + 1):
            for name, publish in sides.items():
                home = scratch_home(root, warehouse)
                started = time.perf_counter()
                publish(home, marts)
                wall = time.perf_counter() - started
                size = bytes_on_disk(home / "serving")
                results[name].append((wall, size))
                print(f"round {round_} {name:<9} {wall:7.2f} s  {size / 2**20:8.1f} MiB on disk")
                shutil.rmtree(home)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{len(marts)} marts of {warehouse}, load average {os.getloadavg()[0]:.1f}")
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        print(
            f"{name:<9} median {statistics.median(walls):7.2f} s  "
            f"(min {min(walls):.2f}, max {max(walls):.2f}), {runs[-1][1] / 2**20:.1f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
