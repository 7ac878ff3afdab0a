"""Run a command as a subprocess and measure it: wall time and peak RSS of its process tree.

Peak RSS is sampled: every ``interval`` seconds the RSS of the child and all its descendants
(found through ``/proc/<pid>/stat`` parent ids) is summed, and the largest sum is kept. The
kernel's own high-water mark of the largest single process (``getrusage(RUSAGE_CHILDREN)``
after the child ends, which covers descendants that were waited for) is recorded beside it,
so a spike shorter than the sampling interval still shows up as a lower bound.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Measurement:
    """What one measured subprocess cost."""

    wall_s: float
    peak_tree_rss_mb: float
    max_single_rss_mb: float
    returncode: int
    peak_spill_mb: float
    stdout: str
    stderr: str

    @property
    def peak_rss_mb(self) -> float:
        """The better of the two peak estimates (the sampled tree sum or the kernel's max)."""
        return max(self.peak_tree_rss_mb, self.max_single_rss_mb)


def _children_map() -> dict[int, list[int]]:
    """Parent pid → child pids, from /proc (processes that vanish mid-scan are skipped)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name (2nd field) is in parentheses and may contain spaces
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _rss_kb(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_kb(root_pid: int) -> int:
    """Sum of the resident set sizes of ``root_pid`` and all its descendants, in KiB."""
    children = _children_map()
    total, stack, seen = 0, [root_pid], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _rss_kb(pid)
        stack.extend(children.get(pid, []))
    return total


def run_measured(
    cmd: list[str],
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    interval: float = 0.2,
    log_file: Path | None = None,
    spill_dirs: tuple[Path, ...] = (),
) -> Measurement:
    """Run ``cmd`` to completion, sampling the tree's RSS and the size of ``spill_dirs``
    (DuckDB temp directories: they are deleted when the database closes, so only sampling
    sees them). Output is captured (and written to ``log_file``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak = 0
    peak_spill = 0.0
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_spill
        while not done.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            peak_spill = max(peak_spill, sum(dir_size_mb(d) for d in spill_dirs))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
    return Measurement(
        wall_s=wall,
        peak_tree_rss_mb=peak / 1024,
        # ru_maxrss is the max over all children waited for so far: only a rise is ours
        max_single_rss_mb=(after / 1024) if after > before else 0.0,
        returncode=proc.returncode,
        peak_spill_mb=peak_spill,
        stdout=stdout,
        stderr=stderr,
    )


def dir_size_mb(path: Path) -> float:
    """Total size of the files under ``path`` (0 when it does not exist), in MiB.

    DuckDB creates and deletes its temp files and directory while we walk them: whatever
    vanishes mid-walk counts as 0 (before, the sampling thread died and stopped measuring)."""
    total = 0
    for root, _dirs, files in os.walk(path):  # os.walk ignores a directory that vanished
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total / 2**20
