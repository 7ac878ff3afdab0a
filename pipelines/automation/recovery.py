"""Recover the run-storage state a killed ``segmart run`` leaves in the local Dagster instance.

Kernel locks die with their process (see :mod:`pipelines.core.locks`), but Dagster's run storage
does not know the process is gone: the run stays ``STARTED`` and, worse, keeps the single slot
of the warehouse pool it held, so the next run would wait for that slot forever. ``segmart
run`` tags each run it executes in process with its own PID (:func:`pid_tags`, the tag
``segmart/pid``). Before a run, under the home's run lock, :func:`recover_dead_runs` finds the
unfinished runs so tagged whose process no longer exists, marks them failed and frees their
pool slots, logging one line each. Runs without the tag (launched by the daemon or the UI) are
left to Dagster's own run monitoring.

Only for the embedded SQLite instance (one machine, PIDs are meaningful). A production instance
on PostgreSQL relies on Dagster's run monitoring in the daemon (docs/dagster.postgres.yaml).
"""

from __future__ import annotations

import logging
import os

import dagster as dg

from pipelines.core.locks import describe_pid, pid_alive, process_started_at

log = logging.getLogger(__name__)
PID_TAG = "segmart/pid"
UNFINISHED = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def pid_tags() -> dict[str, str]:
    """The tags of a run executed in this process: which process runs it."""
    return {PID_TAG: str(os.getpid())}


def run_pid(run: dg.DagsterRun) -> int | None:
    """The PID of the process that executes ``run`` in process, from its ``segmart/pid`` tag."""
    value = run.tags.get(PID_TAG, "")
    return int(value) if value.isdigit() else None


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
        pid = run_pid(run)
        if pid is None or (pid != os.getpid() and _runs_in(pid, record.start_time)):
            continue  # not run by `segmart run`, or still running
        message = (
            f"run {run.run_id} was left {run.status.value} by {describe_pid(pid)}, which no "
            "longer exists (killed or crashed); marked failed and its warehouse pool slot freed"
        )
        instance.report_run_failed(run, message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log.warning(message)
        recovered.append(run.run_id)
    return recovered
