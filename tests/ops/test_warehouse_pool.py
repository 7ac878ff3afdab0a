"""Two runs started at once never write the DuckDB warehouse at the same time.

Each run is a separate process (as a schedule tick and a sensor run would be) materialising an
asset in the warehouse pool that holds a DuckDB write connection for a while. With the pool
limit of 1 the second run's step waits for the slot; without it, it would fail on the file lock.
Checked for the production ``docs/dagster.postgres.yaml``, the instance documented for runs
that overlap: PostgreSQL's row locks make a pool claim atomic between processes. The embedded
SQLite instance has no row locks and runs one run at a time instead (its run queue limit and
``segmart run``'s run lock: tests/reliability/test_run_lock.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

# Two fresh processes each import Dagster: ~10 s idle, ~20 s on two busy cores.
pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("pool_worker.py")
RUN_TIMEOUT_S = 180


def _start_two_runs(dagster_home: Path, database: Path, env: dict[str, str]) -> list[tuple]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(dagster_home), str(database), label],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for label in ("a", "b")
    ]
    try:
        outputs = [p.communicate(timeout=RUN_TIMEOUT_S)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-4000:]
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("select label, started, ended from writes order by started").fetchall()


def _assert_serialised(writes: list[tuple]) -> None:
    assert [w[0] for w in sorted(writes)] == ["a", "b"]  # both runs wrote
    (_, _, first_ended), (_, second_started, _) = writes
    assert second_started >= first_ended  # the second write began after the first ended


@pytest.mark.postgres
def test_production_instance_serialises_warehouse_writers(pg_dagster_home, tmp_path):
    writes = _start_two_runs(pg_dagster_home, tmp_path / "warehouse.duckdb", dict(os.environ))
    _assert_serialised(writes)
