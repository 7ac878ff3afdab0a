"""Reused SQLite connections for the embedded Dagster instance's event log.

Dagster 1.13's ``SqliteEventLogStorage`` builds a new SQLAlchemy engine and opens, commits and
closes a new SQLite connection for every query. Closing the last connection to a database in
WAL mode checkpoints its write-ahead log, so every event a step logs (each dbt model's output,
materialization and check result; each provenance lookup of an input) pays for an engine, an
open and a checkpoint. On this project's 2-core machine that was about 60 ms per materialized
asset in a toy job, and most of a dbt step's time beyond dbt itself.

This module keeps, per storage object, one engine with one pooled connection for each of the
few databases used most recently (the index shard and the current run's shard). What stays the
same: every query still runs in its own transaction, under Dagster's own lock of the storage
object; the databases stay in WAL mode, shared safely with other processes; a database file
that was deleted or replaced (``wipe``) is reopened, and a forked child never reuses its
parent's connections. PostgreSQL storage (docs/dagster.postgres.yaml) is untouched.

Imported by the code location (pipelines/definitions.py), so every run worker has it. Measured
in benchmarks/dagster_events.py; tested in tests/ops/test_sqlite_connections.py.
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

OPEN_DATABASES = 4  # engines kept per storage object: the index shard and recent run shards
ATTRIBUTE = "_segmart_engines"

_storages: weakref.WeakSet[SqliteEventLogStorage] = weakref.WeakSet()


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _engine(storage: SqliteEventLogStorage, shard: str) -> Engine:
    """The cached engine of ``shard``; a new one if none, or if its file was replaced."""
    engines: OrderedDict[str, tuple[Engine, int | None]] = storage.__dict__.setdefault(
        ATTRIBUTE, OrderedDict()
    )
    _storages.add(storage)
    inode = _inode(storage.path_for_shard(shard))
    cached = engines.pop(shard, None)
    if cached is not None and cached[1] == inode and inode is not None:
        engines[shard] = cached
        return cached[0]
    if cached is not None:
        cached[0].dispose()
        storage._initialized_dbs.discard(shard)  # noqa: SLF001
    engine = create_engine(
        storage.conn_string_for_shard(shard),
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=-1,  # never wait: the original opened a connection per query
        connect_args={
            "timeout": sqlite_event_log.SQLITE_BUSY_TIMEOUT_SECONDS,
            # used by one thread at a time, under the storage's own lock
            "check_same_thread": False,
        },
    )
    if shard not in storage._initialized_dbs:  # noqa: SLF001
        storage._initdb(engine)  # noqa: SLF001
        storage._initialized_dbs.add(shard)  # noqa: SLF001
    engines[shard] = (engine, _inode(storage.path_for_shard(shard)))
    while len(engines) > OPEN_DATABASES:
        _, (oldest, _) = engines.popitem(last=False)
        oldest.dispose()
    return engine


@contextmanager
def _connect(self: SqliteEventLogStorage, shard: str) -> Iterator[Connection]:
    with self._db_lock:  # noqa: SLF001
        engine = _engine(self, shard)
        with engine.connect() as conn, conn.begin():
            yield conn


def _close_all(storage: SqliteEventLogStorage) -> None:
    for engine, _ in storage.__dict__.pop(ATTRIBUTE, {}).values():
        engine.dispose()


DAGSTER_CONNECT = SqliteEventLogStorage._connect  # noqa: SLF001  (the baseline in benchmarks)
_original_wipe = SqliteEventLogStorage.wipe


def _wipe(self: SqliteEventLogStorage) -> None:
    """Close the cached connections before Dagster deletes the run shards' files."""
    with self._db_lock:  # noqa: SLF001
        _close_all(self)
    _original_wipe(self)


def _forget_in_child() -> None:
    """After ``fork``: drop the parent's engines without closing its connections."""
    for storage in list(_storages):
        for engine, _ in storage.__dict__.pop(ATTRIBUTE, {}).values():
            engine.dispose(close=False)


_connect.segmart_pooled = True


def apply() -> None:
    """Install the pooled connections (idempotent)."""
    if not getattr(SqliteEventLogStorage._connect, "segmart_pooled", False):  # noqa: SLF001
        SqliteEventLogStorage._connect = _connect  # noqa: SLF001
        SqliteEventLogStorage.wipe = _wipe
        os.register_at_fork(after_in_child=_forget_in_child)


apply()
