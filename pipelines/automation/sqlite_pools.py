"""Atomic pool-slot claims for the embedded (SQLite) Dagster instance.

Dagster 1.13's SQL event-log storage claims a concurrency slot in several transactions (is a
slot unassigned? queue the step; is it assigned? take a free slot row), relying on row locks
(``SELECT … FOR UPDATE SKIP LOCKED``) that SQLite ignores. Two runs in separate processes
claiming the warehouse pool's single slot at the same moment can both get it, and the second
then fails on DuckDB's file lock (seen once in CI, tests/ops/test_warehouse_pool.py).

Holding a kernel lock (``flock`` on a file beside the SQLite files) across every claim and
free makes them atomic between processes; like every lock in pipelines/locks.py it dies with
its process. PostgreSQL storage (docs/dagster.postgres.yaml) has row locks and is untouched.
Imported by the code location (pipelines/definitions.py), so every run worker has it.
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

LOCK_FILE = ".segmart-concurrency.lock"
SERIALISED = (
    "claim_concurrency_slot",
    "free_concurrency_slot_for_step",
    "free_concurrency_slots_for_run",
)

_local = threading.local()
_threads = threading.RLock()


def _serialised(method):
    @functools.wraps(method)
    def wrapper(self: SqliteEventLogStorage, *args, **kwargs):
        with _threads:
            if getattr(_local, "depth", 0):  # nested call in this thread: the lock is held
                return method(self, *args, **kwargs)
            with open(os.path.join(self._base_dir, LOCK_FILE), "a") as lock:  # noqa: SLF001
                fcntl.flock(lock, fcntl.LOCK_EX)
                _local.depth = 1
                try:
                    return method(self, *args, **kwargs)
                finally:
                    _local.depth = 0

    wrapper.segmart_serialised = True
    return wrapper


def apply() -> None:
    """Install the locks (idempotent)."""
    for name in SERIALISED:
        method = getattr(SqliteEventLogStorage, name)
        if not getattr(method, "segmart_serialised", False):
            setattr(SqliteEventLogStorage, name, _serialised(method))


apply()
