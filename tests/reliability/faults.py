"""What the pipeline-fault modules share (test_pipeline_faults*.py).

Faults in the middle of a real ``segmart run`` (a child process on the demo data, scale
0.01), and the runs after them, compared with an uninterrupted run on the same landing: the
shared demo home (tests/shared_homes.py). After every fault the serving copy is readable (the
previous one, or none yet) and nothing half-written is left; the runs after the faults publish
marts identical to the uninterrupted run (:func:`mart_diff`: same rows, floats equal to 1e-9
relative), with no duplicate keys.

The faults are spread over three modules, each a few pipeline runs, so that none runs for
more than about two and a half minutes: test_pipeline_faults.py (killed in dbt, killed
mid-publish), test_pipeline_faults_disk.py (disk full, memory cap),
test_pipeline_faults_landings.py (shuffled, split and twice-landed files).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.reliability.pipeline_home import Run, duplicate_keys, mart_diff

# The GX checks neither write nor read what these faults touch; skipping them saves a minute
# per run. The marts are the same either way.
FAST = ("--no-checks",)


class Disk:
    """A faulted home, on its own tmpfs when this process may mount one (root)."""

    def __init__(self, root: Path, size: str = "3m"):
        self.root = root
        self.home = root / "home"
        # Dagster's run storage stays off the small file system: the faults are segmart's
        self.env = {"DAGSTER_HOME": str(root.parent / "dagster_home")}
        self.mounted = False
        if os.geteuid() == 0 and shutil.which("mount"):
            root.mkdir(parents=True, exist_ok=True)
            mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "segmart-test", str(root)]
            self.mounted = subprocess.run(mount, capture_output=True).returncode == 0

    def resize(self, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.root)], check=True)

    def fill(self, leave: int) -> Path:
        """A file that leaves ``leave`` bytes free."""
        st = os.statvfs(self.root)
        filler = self.root / "filler"
        with open(filler, "wb") as f:
            f.truncate(0)
            block = b"\0" * (1 << 20)
            remaining = st.f_bavail * st.f_frsize - leave
            while remaining > 0:
                f.write(block[: min(remaining, len(block))])
                remaining -= len(block)
        return filler

    def require(self) -> None:
        if not self.mounted:
            pytest.skip("needs a tmpfs mount (root) to fill a disk")

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.root)], check=False)


def serving_files(home: Path) -> dict[str, str]:
    serving = home / "serving"
    if not serving.exists():
        return {}
    return {
        str(p.relative_to(serving)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(serving.rglob("*"))
        if p.is_file() and "quality" not in p.parts and p.name != "report.html"
    }


def no_leftovers(home: Path) -> None:
    assert not [p for p in (home / "serving").rglob(".*") if p.is_file()]
    assert not list(home.glob("raw/**/*.tmp")) and not list(home.glob("manifest/**/*.tmp"))


def same_marts(home: Path, baseline) -> None:
    assert mart_diff(baseline, home) == {}
    assert duplicate_keys(home) == {}


def failure_line(done: Run, step: str) -> str:
    lines = [ln.strip() for ln in done.lines if ln.strip().startswith(f"{step}:")]
    assert lines, done.tail(60)
    return lines[0]
