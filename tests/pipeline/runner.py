"""Run the real Dagster job in process against a home directory (no mocks)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import dagster as dg


@contextmanager
def home_env(home: Path):
    """Point SEGMART_HOME at ``home`` while the definitions are built and run."""
    previous = os.environ.get("SEGMART_HOME")
    os.environ["SEGMART_HOME"] = str(home)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SEGMART_HOME", None)
        else:
            os.environ["SEGMART_HOME"] = previous


def run_job(
    home: Path,
    job_name: str = "segmart_full",
    instance: dg.DagsterInstance | None = None,
    tags: dict[str, str] | None = None,
):
    """Execute a job of the project's own Definitions; returns the ExecuteInProcessResult."""
    from pipelines.definitions import defs

    with home_env(home):
        job = defs().resolve_job_def(job_name)
        if instance is None:
            with dg.DagsterInstance.ephemeral() as ephemeral:
                return job.execute_in_process(instance=ephemeral, raise_on_error=False, tags=tags)
        return job.execute_in_process(instance=instance, raise_on_error=False, tags=tags)


def materialized_keys(result) -> set[str]:
    return {
        event.asset_key.to_user_string()
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
    }


def check_results(result) -> dict[str, bool]:
    """{'<asset> :: <check>': passed} for every evaluated asset check."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            out[f"{evaluation.asset_key.to_user_string()} :: {evaluation.check_name}"] = (
                evaluation.passed
            )
    return out
