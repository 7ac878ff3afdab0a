"""Every lock segmart takes is a kernel lock: a killed holder never leaves it stale.

* the ingest and publish locks (``flock`` on ``{home}/state/*.lock``): a live holder makes
  the next one wait with a message naming it; once the holder is SIGKILLed the lock is free;
* DuckDB's own lock on the warehouse: held by another program, ``segmart run`` stops at once
  with one line naming the file and the process; after that program is killed it is free;
* a publish killed mid-copy leaves temporaries, which the next publish removes with a warning.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb

from pipelines.core.locks import duckdb_lock_holder, exclusive_lock
from pipelines.core.settings import REPO_ROOT
from pipelines.serving import publish
from tests.serving.warehouse import write_marts

HOLD_LOCK = textwrap.dedent(
    """
    import logging, sys, time
    from pathlib import Path
    from pipelines.core.locks import exclusive_lock
    with exclusive_lock(Path(sys.argv[1]), "ingest", logging.getLogger("t")):
        print("held", flush=True)
        time.sleep(120)
    """
)
HOLD_DUCKDB = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("open", flush=True)
    time.sleep(120)
    """
)
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def _hold(script: str, target: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(target)], env=ENV, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() in ("held", "open")
    return proc


def test_a_held_lock_is_waited_for_and_a_killed_holders_lock_is_free(tmp_path, caplog):
    lock = tmp_path / "state" / "ingest.lock"
    holder = _hold(HOLD_LOCK, lock)
    acquired = threading.Event()
    log = logging.getLogger("pipelines.test_locks")

    def take() -> None:
        with exclusive_lock(lock, "ingest", log):
            acquired.set()

    with caplog.at_level(logging.WARNING, logger="pipelines.test_locks"):
        waiter = threading.Thread(target=take)
        waiter.start()
        time.sleep(1.0)
        assert not acquired.is_set()  # the live holder blocks us
        holder.send_signal(signal.SIGKILL)  # no unlock, no cleanup: the kernel drops it
        holder.wait()
        assert acquired.wait(10)
        waiter.join()
    [message] = [r.getMessage() for r in caplog.records]
    assert f"waiting for the ingest running in PID {holder.pid} (" in message
    assert lock.read_text() == str(os.getpid())  # the file stays; only the PID is informative

    caplog.clear()
    with caplog.at_level(logging.WARNING), exclusive_lock(lock, "ingest", log):
        pass  # the lock file of a dead process is no obstacle and says nothing
    assert not caplog.records


def test_warehouse_held_by_another_program_is_a_clear_error_and_free_once_it_dies(tmp_path):
    home = tmp_path / "home"
    warehouse = write_marts(home, version=1)
    holder = _hold(HOLD_DUCKDB, warehouse)
    try:
        assert duckdb_lock_holder(warehouse) == holder.pid
        env = {**ENV, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
        cli = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert cli.returncode == 1
    assert "Traceback" not in cli.stderr + cli.stdout
    [line] = [ln for ln in cli.stderr.splitlines() if ln.startswith("Error:")]
    assert f"the warehouse {warehouse} is open in PID {holder.pid} (" in line
    assert "close that connection" in line
    assert not (home / "landing").exists() or not list((home / "manifest").glob("*.json"))

    assert duckdb_lock_holder(warehouse) is None  # died with its process
    with duckdb.connect(str(warehouse)) as con:  # and a writer can open it
        assert con.execute("select count(*) from marts.dim_customers").fetchone()[0] == 50


def test_publish_removes_the_temporaries_of_a_killed_publish(tmp_path, caplog):
    write_marts(tmp_path, version=1)
    publish(tmp_path, ["dim_customers"])
    serving = tmp_path / "serving"
    stale = [
        serving / ".marts.deadrun.0badc0de.duckdb",
        serving / ".marts.deadrun.0badc0de.duckdb.wal",
        serving / "parquet" / ".dim_customers.deadrun.0badc0de.parquet",
        serving / "._published.json.deadrun.0badc0de",
    ]
    for path in stale:
        path.write_bytes(b"half written")
    with caplog.at_level(logging.WARNING, logger="pipelines.serving.publish"):
        publish(tmp_path, ["dim_customers"])
    assert not any(p.exists() for p in stale)
    removed = [r.getMessage() for r in caplog.records if "did not finish" in r.getMessage()]
    assert len(removed) == len(stale)
    assert [p.name for p in serving.rglob(".*") if p.is_file()] == []
    with duckdb.connect(str(serving / "marts.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from dim_customers").fetchone()[0] == 50
