"""Phase timings of a ``segmart run`` from its Dagster event log.

The harness runs the CLI with ``DAGSTER_HOME`` inside the benchmark home, so the run and its
events persist in that instance's SQLite storage. Afterwards the latest run's STEP_START /
STEP_SUCCESS / STEP_FAILURE events give each step's duration; steps are grouped into phases
by their key (see :func:`phase_of`). ``startup`` is the process time outside the Dagster run
(interpreter start, imports, definitions load, dbt manifest) = wall − (run end − run start).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

PHASES = ("startup", "ingest", "raw_checks", "dbt", "mart_checks", "publish", "other")


def phase_of(step_key: str) -> str:
    """The phase a Dagster step belongs to, from its key (asset check keys name their suite)."""
    key = step_key.lower()
    if "gx_raw__" in key:
        return "raw_checks"
    if "gx_mart__" in key:
        return "mart_checks"
    if "ingest" in key:
        return "ingest"
    if "dbt" in key:
        return "dbt"
    if "serving" in key or "publish" in key or "report" in key:
        return "publish"
    return "other"


def step_durations(events: list[tuple[str, str, float]]) -> dict[str, float]:
    """Step key → seconds, from ``(event_type, step_key, timestamp)`` tuples."""
    starts: dict[str, float] = {}
    durations: dict[str, float] = {}
    for event_type, step_key, ts in sorted(events, key=lambda e: e[2]):
        if event_type == "STEP_START":
            starts[step_key] = ts
        elif event_type in ("STEP_SUCCESS", "STEP_FAILURE") and step_key in starts:
            durations[step_key] = durations.get(step_key, 0.0) + ts - starts.pop(step_key)
    return durations


def group_phases(durations: dict[str, float], wall_s: float, run_s: float) -> dict[str, float]:
    """Sum step durations per phase and add ``startup`` (wall time outside the run).

    Steps run one after another in ``execute_in_process``, so phases add up to about the
    wall time; ``other`` also absorbs the run's own bookkeeping between steps.
    """
    phases: dict[str, float] = defaultdict(float)
    for step_key, seconds in durations.items():
        phases[phase_of(step_key)] += seconds
    phases["startup"] = max(wall_s - run_s, 0.0)
    phases["other"] += max(run_s - sum(durations.values()), 0.0)
    return {name: round(phases.get(name, 0.0), 3) for name in PHASES}


def read_latest_run(dagster_home: Path) -> dict:
    """The latest ``segmart run`` of the instance in ``dagster_home``: id, status, duration,
    step times. Every Dagster run of one ``segmart run`` carries the tag
    ``segmart/invocation`` (one run today; earlier versions started two); their times and
    steps are added up."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(limit=1)
        if not records:
            raise LookupError(f"no Dagster run in {dagster_home}")
        record = records[0]
        invocation = record.dagster_run.tags.get("segmart/invocation")
        if invocation:
            records = instance.get_run_records(
                filters=dg.RunsFilter(tags={"segmart/invocation": invocation})
            )
        wanted = {
            dg.DagsterEventType.STEP_START,
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        }
        events, run_s = [], 0.0
        for each in records:
            events += [
                (e.dagster_event.event_type_value, e.step_key, e.timestamp)
                for e in instance.all_logs(each.dagster_run.run_id, of_type=wanted)
                if e.dagster_event is not None and e.step_key
            ]
            run_s += max((each.end_time or 0.0) - (each.start_time or 0.0), 0.0)
        return {
            "run_id": record.dagster_run.run_id,
            "status": record.dagster_run.status.value,
            "run_s": run_s,
            "steps": {k: round(v, 3) for k, v in step_durations(events).items()},
        }
