"""A real older reader: DuckDB 1.1.3, in its own venv, opens the published marts.duckdb.

``scripts/old_reader.py`` creates the venv once (``.venv-old/``) and reuses it; the tests skip,
saying why, only when DuckDB 1.1.3 cannot be installed (no network and no cached venv).
The pipeline's real marts are read the same way in tests/benchmarks/test_replay_floor.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.serving import publish
from serving.warehouse import write_marts

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "old_reader.py"
MARTS = ["dim_customers", "kpi_channel_monthly", "kpi_types"]
EXIT_NOT_INSTALLED = 3


def run_old_reader(database: Path) -> subprocess.CompletedProcess:
    """``scripts/old_reader.py DATABASE``; skips the test when DuckDB 1.1.3 cannot be had."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(database)], capture_output=True, text=True, timeout=600
    )
    if done.returncode == EXIT_NOT_INSTALLED:
        pytest.skip(f"DuckDB 1.1.3 could not be installed: {done.stderr.strip()}")
    return done


def _warehouse_with_many_types(home: Path) -> dict[str, int]:
    write_marts(home, version=1)
    con = duckdb.connect(str(home / "warehouse" / "segmart.duckdb"))
    try:
        con.execute(
            """
            create table marts.kpi_types as
            select channel,
                sum(impressions) as impressions,                     -- HUGEINT
                max(spend)::decimal(18, 2) as top_spend,
                min(month_start) as first_month,
                (min(month_start) + interval 3 hour)::timestamptz as first_seen_at,
                list(clicks order by month_start) as clicks_by_month,
                {'n': count(*), 'label': channel} as summary,
                count(*) > 3 as is_busy,
                null::varchar as note
            from marts.kpi_channel_monthly group by channel
            """
        )
        return {m: con.execute(f"select count(*) from marts.{m}").fetchone()[0] for m in MARTS}
    finally:
        con.close()


def test_duckdb_1_1_reads_every_published_mart_as_the_current_duckdb_does(tmp_path):
    rows = _warehouse_with_many_types(tmp_path)
    publish(tmp_path, MARTS)

    done = run_old_reader(tmp_path / "serving" / "marts.duckdb")

    assert done.returncode == 0, done.stderr
    read = {
        line.split()[0]: int(line.split()[1].replace(",", ""))
        for line in done.stdout.splitlines()
        if "rows  (DuckDB 1.1.3)" in line
    }
    assert read == rows
    assert "DuckDB 1.1.3 read 3 marts" in done.stdout


def test_a_file_the_old_duckdb_cannot_open_fails_with_its_reason(tmp_path):
    """The check is real: a serving file in a newer storage format than 1.1 reads is refused."""
    (tmp_path / "segmart.yaml").write_text("serving:\n  storage_version: v1.2.0\n")
    _warehouse_with_many_types(tmp_path)
    publish(tmp_path, MARTS)

    done = run_old_reader(tmp_path / "serving" / "marts.duckdb")

    assert done.returncode == 1
    assert "DuckDB 1.1.3 FAILED" in done.stderr
    assert "version" in done.stderr.lower()
