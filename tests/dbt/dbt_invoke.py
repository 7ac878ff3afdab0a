"""Run the dbt project against a test home directory.

dbt runs in a subprocess (the environment's own `dbt`): dbt-duckdb keeps its DuckDB
connection open inside the process that ran it, which would block the test from reading
the warehouse. Each pytest worker keeps its own target directory, so partial parsing is
reused between builds of one worker and parallel workers never share dbt's target files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.core.settings import DBT_PROJECT_DIR

SEGMENT_MARTS = "+path:models/marts/segments"


DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"


def dbt_build(
    home: Path,
    target_dir: Path,
    select: str = SEGMENT_MARTS,
    dbt_vars: dict | None = None,
    threads: int = 2,
) -> str:
    """`dbt build --select <select>` on ``home``; returns dbt's log; raises with the errors on failure."""
    args = [
        str(DBT_EXECUTABLE),
        "build",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_dir),
        "--log-path", str(target_dir / "logs"),
        "--threads", str(threads),
        "--select", select,
        "--log-format", "text",
    ]  # fmt: skip
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    env = {**os.environ, "SEGMART_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() if "ERROR" in line or "Error" in line]
        raise AssertionError(
            "dbt build failed:\n" + "\n".join(errors[-40:] or [done.stdout[-4000:]])
        )
    return done.stdout


def read_table(home: Path, relation: str) -> pd.DataFrame:
    """A warehouse relation (e.g. ``marts.dim_customers``) as a DataFrame."""
    with duckdb.connect(str(Path(home) / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        return con.sql(f"select * from {relation}").df()
