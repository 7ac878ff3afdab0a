"""The dbt project as Dagster sees it, and the dbt executable of this environment."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from pipelines.settings import DBT_PROJECT_DIR, HomePaths, load_config


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
    return DbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
    )


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
