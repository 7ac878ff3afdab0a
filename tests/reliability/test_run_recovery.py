"""A run killed while it holds the warehouse pool's only slot: without recovery the next run
waits for that slot forever ("Step blocked by limit for pool duckdb_warehouse"); with it the
dead run is failed, its slot freed, and the next run goes through.

The runs are real in-process Dagster runs in a child process, against a SQLite instance
prepared as ``segmart`` prepares it (warehouse pool limited to 1).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg

from pipelines.automation.instance import prepare_dagster_home
from pipelines.automation.recovery import recover_dead_runs
from pipelines.core.resources import WAREHOUSE_POOL
from pipelines.core.settings import REPO_ROOT

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import dagster as dg
    from pipelines.automation.recovery import pid_tags

    @dg.asset(pool="duckdb_warehouse")
    def writes_the_warehouse():
        Path(sys.argv[1]).write_text("holding the slot")
        time.sleep(float(sys.argv[2]))

    job = dg.define_asset_job("one_writer", [writes_the_warehouse])
    defs = dg.Definitions(assets=[writes_the_warehouse], jobs=[job])
    with dg.DagsterInstance.get() as instance:
        job = defs.resolve_job_def("one_writer")
        # tagged with its PID as `segmart run` tags its runs
        result = job.execute_in_process(instance=instance, tags=pid_tags())
    print("success" if result.success else "failure")
    """
)


def _start(tmp_path, marker, seconds: float) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker), str(seconds)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _wait(path, proc, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None and time.time() < deadline, "the run did not start"
        time.sleep(0.1)


def test_a_killed_runs_pool_slot_is_recovered_and_the_next_run_proceeds(
    tmp_path, caplog, monkeypatch
):
    prepare_dagster_home(tmp_path / "dagster_home")
    marker = tmp_path / "started"
    killed = _start(tmp_path, marker, 300)
    _wait(marker, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with dg.DagsterInstance.get() as instance:
        [record] = instance.get_run_records()
        assert record.dagster_run.status == dg.DagsterRunStatus.STARTED
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        assert len(info.claimed_slots) == 1  # held by a process that no longer exists

        # without recovery the next run cannot get the slot
        blocked = _start(tmp_path, tmp_path / "blocked", 0)
        time.sleep(8)
        assert blocked.poll() is None and not (tmp_path / "blocked").exists()
        blocked.send_signal(signal.SIGKILL)
        blocked.wait()

        with caplog.at_level(logging.WARNING, logger="pipelines.automation.recovery"):
            recovered = recover_dead_runs(instance)
        assert record.dagster_run.run_id in recovered
        assert f"run {record.dagster_run.run_id} was left STARTED by PID {killed.pid}" in (
            caplog.text
        )
        status = instance.get_run_by_id(record.dagster_run.run_id).status
        assert status == dg.DagsterRunStatus.FAILURE
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        assert info.claimed_slots == [] and info.pending_steps == []
        assert recover_dead_runs(instance) == []  # idempotent; live runs are left alone

    after = _start(tmp_path, tmp_path / "after", 0)
    out, _ = after.communicate(timeout=180)
    assert out.strip() == "success"
