"""Prepare the embedded Dagster instance that ``segmart`` runs in.

A fresh ``DAGSTER_HOME`` gets a ``dagster.yaml`` (SQLite storage, one writer at a time on the
DuckDB warehouse, one queued run at a time), its storage tables and the warehouse pool, once,
under a file lock. Left to the first runs, two processes starting together on a fresh home
race: both create the SQLite tables ("table runs already exists") or both insert the pool's
default row (unique key).
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from pipelines.core.resources import WAREHOUSE_POOL

DAGSTER_YAML = """\
# Written by segmart for the embedded default: local SQLite storage, one run at a time.
# pools: every asset that writes the DuckDB warehouse is in the pool duckdb_warehouse, one
#   step of it at a time. runs: the run queue (schedules, sensors, the UI; `make dev`) starts
#   one run at a time. `segmart run` holds {home}/state/run.lock for its run, one per home.
# SQLite has no row locks, so Dagster's pool claims are not atomic between processes: for
# runs that must overlap use the PostgreSQL instance, docs/dagster.postgres.yaml.
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""

READY_MARKER = ".segmart-instance-ready"


def prepare_dagster_home(dagster_home: Path) -> Path:
    """Write the config if missing, create the storage and pin the warehouse pool to 1.

    Idempotent and safe to call from concurrent processes; a home that is already prepared
    costs one ``stat``. A user's own ``dagster.yaml`` is kept as it is.
    """
    dagster_home.mkdir(parents=True, exist_ok=True)
    if (dagster_home / READY_MARKER).exists():
        return dagster_home
    with open(dagster_home / ".segmart-instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dagster_home / READY_MARKER).exists():
            config = dagster_home / "dagster.yaml"
            if not config.exists():
                config.write_text(DAGSTER_YAML)
            import dagster as dg  # lazy: the command line imports this module at start-up

            with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                if instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count < 1:
                    instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
            (dagster_home / READY_MARKER).write_text("storage created, warehouse pool set\n")
    return dagster_home


if __name__ == "__main__":  # `make dev`: python -m pipelines.automation.instance DAGSTER_HOME
    import sys

    print(f"Dagster instance ready in {prepare_dagster_home(Path(sys.argv[1]))}")
