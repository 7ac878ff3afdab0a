"""Recover the run-storage state a killed ``segmart run`` leaves in the local Dagster instance.

Kernel locks die with their process (see :mod:`pipelines.locks`), but Dagster's run storage
does not know the process is gone: the run stays ``STARTED`` and, worse, keeps the single slot
of the warehouse pool it held, so the next run would wait for that slot forever. Before a run,
:func:`recover_dead_runs` finds runs whose in-process executor PID (recorded by Dagster's
"Executing steps in process (pid: N)" engine event) is no longer alive, marks them failed
and frees their pool slots, logging one line each.

Only for the embedded SQLite instance (one machine, PIDs are meaningful). A production instance
on PostgreSQL relies on Dagster's run monitoring in the daemon (docs/dagster.postgres.yaml).
"""

from __future__ import annotations

import logging
import os
import re

import dagster as dg

from pipelines.locks import describe_pid, pid_alive, process_started_at

log = logging.getLogger(__name__)
UNFINISHED = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_PID = re.compile(r"\(pid: (\d+)\)")


def run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The PID of the process that executed ``run_id`` in process, if Dagster recorded it."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=20
    ).records
    for record in records:
        match = _PID.search(record.event_log_entry.message or "")
        if match:
            return int(match.group(1))
    return None


def _runs_in(pid: int, run_started: float | None) -> bool:
    """``pid`` is alive and is the process that started the run (not a reused PID)."""
    if not pid_alive(pid):
        return False
    started = process_started_at(pid)
    return started is None or run_started is None or started <= run_started + 1


def is_local(instance: dg.DagsterInstance) -> bool:
    return type(instance.run_storage).__name__.startswith("Sqlite")


def recover_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the unfinished runs whose process is dead and free their pool slots; their ids."""
    if not is_local(instance):
        return []
    recovered = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        pid = run_pid(instance, run.run_id)
        if pid is None or (pid != os.getpid() and _runs_in(pid, record.start_time)):
            continue  # not started in process yet, or still running
        message = (
            f"run {run.run_id} was left {run.status.value} by {describe_pid(pid)}, which no "
            "longer exists (killed or crashed); marked failed and its warehouse pool slot freed"
        )
        instance.report_run_failed(run, message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log.warning(message)
        recovered.append(run.run_id)
    return recovered
