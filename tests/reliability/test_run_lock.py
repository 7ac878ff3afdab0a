"""Concurrency on the embedded instance through supported means only.

* ``segmart run`` holds the home's run lock for its run: a second run of the same home waits,
  naming the first; once the first is killed it goes on (the kernel dropped the lock);
* segmart's own processes are the run-lock holder and what it started (dbt holding the
  warehouse), told apart from another program by the lock and ``/proc``, never by the words
  in a command line: a foreign program started from a folder named ``segmart`` is foreign;
* the embedded instance's ``dagster.yaml`` limits the run queue to one run and the warehouse
  pool to one step.

Every holder is a real child process; the locks are the kernel's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines import cli
from pipelines.automation.instance import prepare_dagster_home
from pipelines.core.locks import (
    WarehouseBusy,
    check_warehouse_free,
    duckdb_lock_holder,
    is_segmart_process,
    lock_holder,
    run_lock_path,
)
from pipelines.core.resources import WAREHOUSE_POOL
from pipelines.core.settings import REPO_ROOT, home_paths

# A run of the home: takes the run lock, then starts a child that opens the warehouse for
# writing, as `segmart run` starts dbt. Prints both PIDs.
RUN_WITH_DBT_CHILD = textwrap.dedent(
    """
    import logging, subprocess, sys, time
    from pathlib import Path
    from pipelines.core.locks import run_lock
    state, warehouse = Path(sys.argv[1]), sys.argv[2]
    child = (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
        "print('open', flush=True); time.sleep(120)"
    )
    with run_lock(state, logging.getLogger("t")):
        dbt = subprocess.Popen([sys.executable, "-c", child, warehouse], stdout=subprocess.PIPE, text=True)
        assert dbt.stdout.readline().strip() == "open"
        print(f"{dbt.pid}", flush=True)
        time.sleep(120)
    """
)
FOREIGN_READER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("open", flush=True)
    time.sleep(120)
    """
)
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


@pytest.fixture
def home(tmp_path):
    paths = home_paths(tmp_path / "home").ensure()
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute("create table t as select 1 as x")
    return paths


def _start(args: list[str], cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        env=ENV,
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killed with its child
    )


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_second_run_waits_for_the_first_and_its_dbt_child_is_segmart(
    home, tmp_path, caplog, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(prepare_dagster_home(tmp_path / "dagster_home")))
    lock = run_lock_path(home.state)
    first = _start(["-c", RUN_WITH_DBT_CHILD, str(home.state), str(home.warehouse)])
    try:
        dbt_pid = int(first.stdout.readline())
        assert lock_holder(lock) == first.pid
        assert duckdb_lock_holder(home.warehouse) == dbt_pid
        assert is_segmart_process(first.pid, lock) and is_segmart_process(dbt_pid, lock)
        check_warehouse_free(home.warehouse, lock)  # held by the run of this home: no error

        entered = threading.Event()
        failed: list[BaseException] = []

        def second_run() -> None:
            try:
                with cli._exclusive_run(home.root):
                    entered.set()
            except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
                failed.append(exc)

        with caplog.at_level(logging.WARNING, logger="pipelines.cli"):
            waiter = threading.Thread(target=second_run)
            waiter.start()
            time.sleep(2.0)
            assert not entered.is_set() and not failed  # waits for the first run
            _kill(first)  # run and dbt child SIGKILLed: no unlock, no cleanup
            assert entered.wait(60), failed
            waiter.join()
        assert not failed
        [message] = [r.getMessage() for r in caplog.records if r.name == "pipelines.cli"]
        assert f"waiting for the run running in PID {first.pid}" in message
        assert lock_holder(lock) is None  # the second run ended and released it
    finally:
        _kill(first)


def test_a_program_started_from_a_folder_named_segmart_is_not_segmart(home, tmp_path):
    folder = tmp_path / "segmart" / "dbt"  # the words the old guess looked for
    folder.mkdir(parents=True)
    script = folder / "segmart_dbt_reader.py"
    script.write_text(FOREIGN_READER)
    reader = _start([str(script), str(home.warehouse)], cwd=folder)
    try:
        assert reader.stdout.readline().strip() == "open"
        lock = run_lock_path(home.state)
        assert not is_segmart_process(reader.pid, lock)
        with pytest.raises(WarehouseBusy, match=f"is open in PID {reader.pid} "):
            check_warehouse_free(home.warehouse, lock)

        # a run of this home holding its lock does not make a foreign reader its own
        run = _start(["-c", RUN_WITH_DBT_CHILD, str(home.state), str(tmp_path / "other.duckdb")])
        try:
            int(run.stdout.readline())
            assert lock_holder(lock) == run.pid
            assert not is_segmart_process(reader.pid, lock)
            with pytest.raises(WarehouseBusy, match=f"is open in PID {reader.pid} "):
                check_warehouse_free(home.warehouse, lock)
        finally:
            _kill(run)
    finally:
        _kill(reader)
    check_warehouse_free(home.warehouse, run_lock_path(home.state))  # free once it died


def test_the_embedded_instance_queues_one_run_and_one_warehouse_writer(tmp_path):
    home = prepare_dagster_home(tmp_path / "dagster_home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == 1
        assert config.pool_config.default_pool_limit == 1
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 1
