"""The locks segmart takes, and how a lock left by a dead process is recovered.

Every lock here is a kernel lock on an open file (``flock`` or ``fcntl`` record lock), never a
lock *file* whose existence means "locked": the kernel drops such a lock when its process exits
or is killed, so a crash can never leave a stale lock behind. The file itself stays (it holds
the PID of the last holder, for messages only).

* ``{home}/state/run.lock``     one ``segmart run`` (or ``demo``) at a time per home
  (:func:`run_lock`), held by the command line process for the whole run. It is how segmart
  knows its own processes: a process is segmart's when it holds this lock or was started by
  the process that holds it (dbt), never by the words in its command line;
* ``{home}/state/ingest.lock``  one ingest at a time per home (:func:`exclusive_lock`);
* ``{home}/state/publish.lock`` one publish at a time per home;
* the DuckDB warehouse file: DuckDB's own ``fcntl`` lock, held while a connection is open.
  :func:`duckdb_lock_holder` tells who holds it without taking it, so a run can fail with a
  clear message instead of DuckDB's traceback.
* Dagster's run storage: its concurrency slots are rows, not kernel locks; a run killed
  mid-step keeps its slot until :func:`pipelines.automation.recovery.recover_dead_runs` frees it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# struct flock on Linux (64-bit off_t): l_type, l_whence, l_start, l_len, l_pid, padding
_FLOCK = "hhqqi4x"


class WarehouseBusy(RuntimeError):
    """Another process (not a run of the same home, see :func:`is_segmart_process`) has the
    warehouse file open."""


@contextmanager
def exclusive_lock(path: Path, what: str, log: logging.Logger) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; if another live process holds it, log and wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip()
            log.warning("waiting for the %s running in %s to finish", what, describe_pid(holder))
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield  # closed (or the process killed): the kernel releases the lock


def describe_pid(pid: int | str | None) -> str:
    """``PID 123 (segmart run --home …)`` from /proc, for messages."""
    if not pid or not str(pid).isdigit():
        return "another process"
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        cmd = " ".join(raw.replace(b"\0", b" ").decode(errors="replace").split())
    except OSError:
        cmd = ""
    return f"PID {pid} ({cmd[:120]})" if cmd else f"PID {pid}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds, from /proc), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime


def duckdb_lock_holder(path: Path) -> int | None:
    """PID of another process holding DuckDB's lock on ``path`` (read or write), else None.

    Uses ``F_GETLK``, which tests the lock without taking it. Locks held by this process are
    never reported (POSIX record locks belong to the process).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        l_type, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    finally:
        os.close(fd)
    return None if l_type == fcntl.F_UNLCK else pid


RUN_LOCK = "run.lock"
INGEST_LOCK = "ingest.lock"  # the ingest writes raw + manifest; reconcile reads them
PUBLISH_LOCK = "publish.lock"


def run_lock_path(state: Path) -> Path:
    """The run lock of the home whose state directory is ``state``."""
    return state / RUN_LOCK


@contextmanager
def run_lock(state: Path, log: logging.Logger) -> Iterator[None]:
    """Hold the home's run lock for a whole run; another live run of the home is waited for."""
    with exclusive_lock(run_lock_path(state), "run", log):
        yield


def lock_holder(path: Path) -> int | None:
    """PID of the live process holding the ``flock`` of :func:`exclusive_lock` on ``path``.

    None when nobody holds it. Tested without taking it for long: a shared lock that is
    refused means a holder; the holder wrote its PID into the file when it took the lock.
    """
    try:
        lock = open(path)  # noqa: SIM115  (closed below; a new open file description)
    except FileNotFoundError:
        return None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = lock.read().strip()
            pid = int(text) if text.isdigit() else None
            return pid if pid is not None and pid_alive(pid) else None
        fcntl.flock(lock, fcntl.LOCK_UN)
        return None


def parent_pid(pid: int) -> int | None:
    """The parent of process ``pid`` (from /proc), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])  # after "pid (comm) state"


def is_segmart_process(pid: int, run_lock_file: Path) -> bool:
    """``pid`` holds the home's run lock, or descends from the process that holds it.

    Decided by what the processes hold (the lock) and who started them (``/proc``), never by
    their command line: a program in a folder named ``segmart`` is still another program.
    """
    holder = lock_holder(run_lock_file)
    seen: set[int] = set()
    current: int | None = pid
    while holder is not None and current and current not in seen:
        if current == holder:
            return True
        seen.add(current)
        current = parent_pid(current)
    return False


def check_warehouse_free(path: Path, run_lock_file: Path) -> None:
    """Fail clearly when a process other than segmart's own holds the warehouse file open.

    A segmart run of the same home (the holder of ``run_lock_file`` or its dbt child) is not
    an error: the caller waits for its run lock.
    """
    pid = duckdb_lock_holder(path)
    if pid is None or is_segmart_process(pid, run_lock_file):
        return
    raise WarehouseBusy(
        f"the warehouse {path} is open in {describe_pid(pid)}; close that connection "
        "(BI tools should read serving/marts.duckdb, never the warehouse) and run again"
    )
