"""The dbt project as Dagster sees it, and the dbt executable of this environment."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from pipelines.core.settings import DBT_PROJECT_DIR, HomePaths, load_config

PARTIAL_PARSE = "partial_parse.msgpack"


def dbt_executable() -> str:
    """The ``dbt`` next to this interpreter (a venv's python called by path has no PATH entry)."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _newest_source_mtime() -> float:
    newest = 0.0
    for folder in ("models", "macros", "seeds", "snapshots", "tests"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (DBT_PROJECT_DIR / name).stat().st_mtime)
    return newest


def ensure_manifest(project: DbtProject) -> Path:
    """Parse the dbt project when its manifest is missing or older than any project file.

    Partial parsing stays on, so an unchanged project re-parses in about a second.
    """
    manifest = project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime():
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    # one parse at a time (parallel test workers, a sensor and the UI loading together)
    with open(manifest.parent / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime():
            return manifest
        _parse(manifest)
    return manifest


def _parse(manifest: Path) -> None:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("DBT_TARGET_PATH", None)  # the project's own target/, where Dagster reads it
    env.setdefault("SEGMART_HOME", str(DBT_PROJECT_DIR.parent / "data"))
    result = subprocess.run(
        # the same --vars as `dbt build` uses, so that its partial parse reuses this one
        [
            dbt_executable(),
            "parse",
            "--quiet",
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--vars",
            dbt_vars(env["SEGMART_HOME"]),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not manifest.exists():
        raise RuntimeError(f"dbt parse failed:\n{result.stdout}\n{result.stderr}")


def dbt_cli_resource() -> DbtCliResource:
    """dagster-dbt's own resource, as configured for this project.

    ``--no-write-json``: nothing reads the manifest.json and run_results.json of a pipeline
    invocation (Dagster reads dbt's event stream; the ``partial_parse.msgpack`` is still
    written; each invocation's dbt.log stays), and writing them cost ~1.3 s per ``dbt build``.
    dagster-dbt also runs ``dbt --version`` once per resource and builds a dbt adapter in the
    Dagster process before each ``cli`` call (for ``fetch_row_counts()`` and
    ``fetch_column_metadata()``, unused here): ~2.2 s and ~0.5 s (1.5 s the first time) that
    segmart no longer avoids by overriding dagster-dbt's private methods (issue 21.1).
    """
    return DbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
        global_config_flags=["--no-write-json"],
    )


def build_args(home: str | os.PathLike | None = None) -> list[str]:
    """``dbt build`` of a pipeline run: the user's vars; no unit tests.

    dbt unit tests check the SQL on fixed inputs, the same in every run: they belong to
    development and CI (tests/dbt and tests/kpi build them), not to production runs, as
    dbt's documentation advises.
    """
    return ["build", "--vars", dbt_vars(home), "--exclude-resource-type", "unit_test"]


def dbt_vars(home: str | os.PathLike | None = None) -> str:
    """The user's ``dbt_vars`` (config/segmart.yaml + {home}/segmart.yaml) as a --vars JSON."""
    return json.dumps(load_config(home).get("dbt_vars", {}))


def dbt_env(paths: HomePaths) -> None:
    """Point dbt's ``profiles.yml`` at this run's home and its ``duckdb.memory_limit``."""
    os.environ["SEGMART_HOME"] = str(paths.root)
    memory_limit = (load_config(paths.root).get("duckdb") or {}).get("memory_limit")
    if memory_limit:  # profiles.yml reads it; without config it defaults to 3GB there
        os.environ["SEGMART_DUCKDB_MEMORY_LIMIT"] = str(memory_limit)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # The project is several @dbt_assets, and Dagster runs subsets of them: a test runs in the
    # op that builds its model (buildable), never in one that only builds a parent, such as a
    # seed (dbt's default, eager, would run it there before its model exists).
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    os.environ["DBT_TARGET_PATH"] = str(home_target_path(paths))
    reuse_partial_parse(home_target_path(paths))


# Each dbt invocation gets its own directory under the home's target path (dagster-dbt);
# the newest few are kept for diagnosis.
KEEP_INVOCATIONS = 12


def home_target_path(paths: HomePaths) -> Path:
    """dbt's target directory for the runs of one home: ``{home}/state/dbt_target``.

    Per home, not the project's ``target/``: the profile names the home's warehouse, and dbt
    re-parses the whole project when the profile differs from the one its
    ``partial_parse.msgpack`` was written with; with one shared directory every run in
    another home (tests, benchmarks) re-parsed in each of its four ``dbt build`` calls.
    """
    return paths.state / "dbt_target"


def reuse_partial_parse(target: Path) -> None:
    """Make the newest invocation's ``partial_parse.msgpack`` the one the next invocation
    starts from (dagster-dbt copies ``{target}/partial_parse.msgpack`` into each invocation's
    directory), and prune old invocation directories."""
    if not target.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    invocations = sorted(
        (d for d in target.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime
    )
    for old in invocations[:-KEEP_INVOCATIONS]:
        shutil.rmtree(old, ignore_errors=True)
    parses = [d / PARTIAL_PARSE for d in invocations[-KEEP_INVOCATIONS:]]
    parses = [p for p in parses if p.exists()]
    if not parses:
        return
    newest = max(parses, key=lambda p: p.stat().st_mtime)
    base = target / PARTIAL_PARSE
    if not base.exists() or newest.stat().st_mtime > base.stat().st_mtime:
        tmp = target / f".{PARTIAL_PARSE}.tmp"
        shutil.copy2(newest, tmp)
        tmp.replace(base)
