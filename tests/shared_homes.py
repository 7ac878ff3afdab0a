"""Homes built once per test session and shared by every module that starts from them.

A whole pipeline run costs minutes in CI; several modules start from the same one (the demo
data at scale 0.01, seed 11, run by the real job). :func:`shared_home` builds such a home once
for all xdist workers (a file lock in the session's temporary root: the first worker builds,
the others wait and reuse it); :func:`private_copy` gives a module its own copy to change.
The run that built a home is stored in the home's own Dagster instance and read back with
:class:`StoredRun`, which answers what the tests ask of an ``ExecuteInProcessResult``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg

READY = ".shared-home-ready"
BUILD_RUN = "build_run.json"


def _session_root(tmp_path_factory) -> Path:
    """The temporary root all workers of this session share (xdist: the workers' parent)."""
    base = Path(tmp_path_factory.getbasetemp())
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_home(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """The home ``name``, built by ``build(home)`` unless another worker already did.

    Read it, never change it: copy it first (:func:`private_copy`). A build that raised
    leaves no home behind, so the next module that asks builds it again (and fails the same
    way, with its own traceback).
    """
    root = _session_root(tmp_path_factory) / "shared_homes"
    root.mkdir(exist_ok=True)
    home = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / READY).exists():
            shutil.rmtree(home, ignore_errors=True)
            try:
                build(home)
            except BaseException:
                shutil.rmtree(home, ignore_errors=True)
                raise
            (home / READY).write_text(f"built by {os.environ.get('PYTEST_XDIST_WORKER', 'main')}\n")
    return home


def private_copy(home: Path, target: Path) -> Path:
    """A copy of ``home`` at ``target``, mtimes kept (the ingest sees every file as loaded)."""
    shutil.copytree(home, target, symlinks=True, ignore=shutil.ignore_patterns(READY, "*.lock"))
    return target


def build_with_job(home: Path) -> None:
    """Run the full job on ``home`` (its landing already there) in the home's own instance."""
    from pipelines.automation.instance import prepare_dagster_home
    from tests.pipeline.runner import run_job

    dagster_home = prepare_dagster_home(home / "dagster_home")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        result = run_job(home, instance=instance)
    (home / BUILD_RUN).write_text(json.dumps({"run_id": result.run_id}))


def build_demo_home(home: Path) -> None:
    """The demo data at scale 0.01, seed 11, through the full job (checks on)."""
    from generator import generate

    generate(home / "landing" / "demo", scale=0.01, seed=11)
    build_with_job(home)


def demo_home(tmp_path_factory) -> Path:
    return shared_home(tmp_path_factory, "demo_s0.01_seed11", build_demo_home)


class StoredRun:
    """The run that built a home, read back from the home's Dagster instance.

    ``success``, ``run_id`` and ``all_events`` (the run's Dagster events, in order) are what
    the tests read of an ``ExecuteInProcessResult``.
    """

    def __init__(self, home: Path):
        self.run_id = json.loads((home / BUILD_RUN).read_text())["run_id"]
        with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
            run = instance.get_run_by_id(self.run_id)
            self.success = run is not None and run.status == dg.DagsterRunStatus.SUCCESS
            self.all_events = [
                entry.dagster_event
                for entry in instance.all_logs(self.run_id)
                if entry.dagster_event is not None
            ]
