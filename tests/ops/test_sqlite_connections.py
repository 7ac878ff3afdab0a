"""Pooled SQLite connections of the embedded instance (pipelines/automation/sqlite_connections.py).

The patch is installed by importing the module (the code location does); these tests check
that it is installed, that it really reuses connections, and that what Dagster relies on
still holds: other storage objects and other processes see every event at once, ``wipe``
starts clean, a forked child opens its own connections.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine

from pipelines.automation import sqlite_connections

REPO = Path(__file__).resolve().parents[2]


def _materialization(run_id: str, key: str, n: int) -> EventLogEntry:
    data = StepMaterializationData(dg.AssetMaterialization(asset_key=key, metadata={"n": n}))
    return EventLogEntry(
        error_info=None,
        level=20,
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=DagsterEvent(
            DagsterEventType.ASSET_MATERIALIZATION.value, "job", event_specific_data=data
        ),
    )


def _latest_n(instance: dg.DagsterInstance, key: str) -> int | None:
    record = instance.get_latest_materialization_event(dg.AssetKey(key))
    if record is None:
        return None
    return record.asset_materialization.metadata["n"].value


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return tmp_path


@pytest.fixture
def connects():
    """Counts new DBAPI connections opened by any engine while the test runs."""
    opened: list[int] = []

    def count(dbapi_connection, record) -> None:
        opened.append(1)

    event.listen(Engine, "connect", count)
    yield opened
    event.remove(Engine, "connect", count)


def test_installed_by_the_code_location() -> None:
    import pipelines.definitions  # noqa: F401

    assert getattr(SqliteEventLogStorage._connect, "segmart_pooled", False)  # noqa: SLF001
    assert SqliteEventLogStorage._connect is not sqlite_connections.DAGSTER_CONNECT  # noqa: SLF001


def test_events_reuse_connections(home: Path, connects: list[int]) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.store_event(_materialization("run_a", "orders", 0))  # opens both shards
        connects.clear()
        for n in range(1, 40):
            instance.store_event(_materialization("run_a", "orders", n))
        assert connects == []
        assert _latest_n(instance, "orders") == 39
        assert len(instance.all_logs("run_a")) == 40


def test_without_the_patch_every_query_opens_a_connection(
    home: Path, connects: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline the module replaces, so the test above is not vacuous."""
    monkeypatch.setattr(SqliteEventLogStorage, "_connect", sqlite_connections.DAGSTER_CONNECT)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.store_event(_materialization("run_a", "orders", 0))
        connects.clear()
        for n in range(1, 40):
            instance.store_event(_materialization("run_a", "orders", n))
        assert len(connects) >= 2 * 39  # the run's shard and the index, for every event


def test_another_instance_sees_every_event_at_once(home: Path) -> None:
    with (
        dg.DagsterInstance.from_config(str(home)) as writer,
        dg.DagsterInstance.from_config(str(home)) as reader,
    ):
        for n in range(5):
            writer.store_event(_materialization("run_a", "spend", n))
            assert _latest_n(reader, "spend") == n
            reader.store_event(_materialization("run_b", "leads", n))
            assert _latest_n(writer, "leads") == n


def test_another_process_sees_every_event_at_once(home: Path) -> None:
    """A second process writes while this one holds its pooled connections open."""
    script = (
        "import sys, time, dagster as dg\n"
        "from pipelines.automation import sqlite_connections\n"
        "from tests.ops.test_sqlite_connections import _materialization\n"
        "with dg.DagsterInstance.from_config(sys.argv[1]) as i:\n"
        "    i.store_event(_materialization('run_child', 'orders', int(sys.argv[2])))\n"
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.store_event(_materialization("run_a", "orders", 1))
        assert _latest_n(instance, "orders") == 1
        for n in (2, 3):
            subprocess.run(
                [sys.executable, "-c", script, str(home), str(n)],
                check=True,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            assert _latest_n(instance, "orders") == n
        instance.store_event(_materialization("run_a", "orders", 4))
        assert _latest_n(instance, "orders") == 4


def test_wipe_starts_clean(home: Path) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.store_event(_materialization("run_a", "orders", 1))
        instance.wipe()
        assert _latest_n(instance, "orders") is None
        assert instance.all_logs("run_a") == []
        instance.store_event(_materialization("run_a", "orders", 2))
        assert _latest_n(instance, "orders") == 2
        assert len(instance.all_logs("run_a")) == 1


def test_few_databases_stay_open(home: Path) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in range(sqlite_connections.OPEN_DATABASES + 3):
            instance.store_event(_materialization(f"run_{run}", "orders", run))
        engines = instance.event_log_storage.__dict__[sqlite_connections.ATTRIBUTE]
        assert len(engines) == sqlite_connections.OPEN_DATABASES
        # an evicted run's shard opens again on demand
        assert len(instance.all_logs("run_0")) == 1


def _child_stores(home: str, queue) -> None:
    instance = _PARENT["instance"]
    storage = instance.event_log_storage
    inherited = sqlite_connections.ATTRIBUTE in storage.__dict__
    instance.store_event(_materialization("run_child", "orders", 7))
    queue.put((inherited, _latest_n(instance, "orders")))


_PARENT: dict = {}


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_forked_child_opens_its_own_connections(home: Path) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.store_event(_materialization("run_a", "orders", 1))
        assert sqlite_connections.ATTRIBUTE in instance.event_log_storage.__dict__
        _PARENT["instance"] = instance
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_child_stores, args=(str(home), queue))
        child.start()
        inherited, seen = queue.get(timeout=60)
        child.join(60)
        _PARENT.clear()
        assert child.exitcode == 0
        assert inherited is False
        assert seen == 7
        # the parent's pooled connections are still good
        instance.store_event(_materialization("run_a", "orders", 8))
        assert _latest_n(instance, "orders") == 8
