"""Run the floor: ``benchmarks/floor/*.sql`` on the landing files in one DuckDB, no orchestration.

``python -m benchmarks.floor_run LANDING OUT_DB`` writes the floor's marts into ``OUT_DB``
(a DuckDB file, schema main). Run by the harness as a subprocess so its memory is measured
the same way as the pipeline's. DuckDB gets the same memory limit and threads as the
pipeline (config ``duckdb``) and a temp directory next to ``OUT_DB`` (its spill).
"""

from __future__ import annotations

import sys
from pathlib import Path
from string import Template

import duckdb

from pipelines.core.settings import DBT_PROJECT_DIR, load_config

FLOOR_DIR = Path(__file__).resolve().parent / "floor"
LINKEDIN_ACCOUNT = "508123456"  # the demo's LinkedIn account id (only in the report preamble)


def render(sql: str, landing: Path) -> str:
    """Substitute the script's ``${...}`` parameters."""
    dbt_vars = load_config().get("dbt_vars", {})
    return Template(sql).substitute(
        landing=landing.as_posix(),
        seeds=(DBT_PROJECT_DIR / "seeds").as_posix(),
        default_gross_margin=float(dbt_vars.get("default_gross_margin", 0.6)),
        churn_horizon_days=_number_or_null(dbt_vars.get("churn_horizon_days")),
        churn_horizon_quantile=float(dbt_vars.get("churn_horizon_quantile", 0.9)),
        linkedin_account=LINKEDIN_ACCOUNT,
    )


def _number_or_null(value) -> str:
    return "null" if value is None else repr(float(value))


def run_floor(landing: Path, out_db: Path) -> None:
    duck = load_config().get("duckdb", {})
    out_db.unlink(missing_ok=True)
    con = duckdb.connect(str(out_db))
    try:
        con.execute(f"set memory_limit = '{duck.get('memory_limit', '3GB')}'")
        con.execute(f"set threads = {int(duck.get('threads', 2))}")
        con.execute(f"set temp_directory = '{out_db.with_suffix('.tmp').as_posix()}'")
        for script in sorted(FLOOR_DIR.glob("*.sql")):
            con.execute(render(script.read_text(), landing))
    finally:
        con.close()


if __name__ == "__main__":
    run_floor(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
