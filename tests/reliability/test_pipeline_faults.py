"""Faults in the middle of a real ``segmart run`` (a child process on the demo data, scale
0.01), and the runs after them, compared with an uninterrupted run on the same landing.

One home goes through the faults in order, each test starting from what the previous left:

1. the disk fills up during ingest (the home is a small tmpfs; root only, else skipped);
2. SIGKILL of the whole process group during ``dbt build`` (after some models are built),
   then a rerun: the killed run's warehouse pool slot is recovered with a message, and the
   rerun builds marts identical to the uninterrupted run; that rerun is itself killed
   between the swap of ``marts.duckdb`` and the Parquet files, and the next run recovers
   again and finishes the publish (one run fewer than two separate kill-and-rerun tests);
3. a memory cap far too low (``duckdb.memory_limit: 1MB`` in the home's segmart.yaml);
4. the disk fills up at the start of the publish (tmpfs again).

After every fault the serving copy is readable (the previous one, or none yet) and nothing
half-written is left; the runs after the faults publish marts identical to the uninterrupted run
(:func:`mart_diff`: same rows, floats equal to 1e-9 relative), with no duplicate keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.reliability.pipeline_home import (
    Run,
    copy_landing,
    duplicate_keys,
    mart_diff,
    run,
    serving_readable,
    shuffle_csv,
    shuffle_jsonl_gz,
    split_csv,
)
from tests.shared_homes import StoredRun, demo_home

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline_faults")]

DBT_MODELS_BEFORE_KILL = 10
# The GX checks neither write nor read what these faults touch; skipping them saves a minute
# per run. The marts are the same either way.
FAST = ("--no-checks",)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """The uninterrupted run: the shared demo home (tests/shared_homes.py), same landing."""
    home = demo_home(tmp_path_factory)
    assert StoredRun(home).success
    return home


@pytest.fixture(scope="module")
def landing(baseline) -> Path:
    """The demo landing (scale 0.01, seed 11) the baseline was built from; copy, never change."""
    return baseline / "landing" / "demo"


class Disk:
    """The faulted home, on its own tmpfs when this process may mount one (root)."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        # Dagster's run storage stays off the small file system: the faults are segmart's
        self.env = {"DAGSTER_HOME": str(root.parent / "dagster_home")}
        self.mounted = False
        if os.geteuid() == 0 and shutil.which("mount"):
            root.mkdir(parents=True, exist_ok=True)
            mount = ["mount", "-t", "tmpfs", "-o", "size=3m", "segmart-test", str(root)]
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


@pytest.fixture(scope="module")
def disk(landing, tmp_path_factory):
    d = Disk(tmp_path_factory.mktemp("faulted") / "fs")
    # the landing is read-only input: it stays outside the small file system
    outside = tmp_path_factory.mktemp("faulted_landing")
    copy_landing(landing, outside)
    d.home.mkdir(parents=True)
    (d.home / "landing").symlink_to(outside / "landing", target_is_directory=True)
    yield d
    if d.mounted:
        subprocess.run(["umount", "-l", str(d.root)], check=False)


def _serving_files(home: Path) -> dict[str, str]:
    serving = home / "serving"
    if not serving.exists():
        return {}
    return {
        str(p.relative_to(serving)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(serving.rglob("*"))
        if p.is_file() and "quality" not in p.parts and p.name != "report.html"
    }


def _no_leftovers(home: Path) -> None:
    assert not [p for p in (home / "serving").rglob(".*") if p.is_file()]
    assert not list(home.glob("raw/**/*.tmp")) and not list(home.glob("manifest/**/*.tmp"))


def _same_marts(home: Path, baseline) -> None:
    assert mart_diff(baseline, home) == {}
    assert duplicate_keys(home) == {}


def _failure_line(done: Run, step: str) -> str:
    lines = [ln.strip() for ln in done.lines if ln.strip().startswith(f"{step}:")]
    assert lines, done.tail(60)
    return lines[0]


def test_0_same_answer_for_shuffled_split_and_twice_landed_files(landing, baseline, tmp_path):
    """Row order, file boundaries and a second copy of a file do not change any mart."""
    home = copy_landing(landing, tmp_path)
    demo = home / "landing" / "demo"
    contacts = demo / "crm/hubspot/hubspot-crm-exports-all-contacts-2025-01-01.csv"
    shuffle_csv(contacts)
    # the same records landed again in another file (another order, so other bytes), later
    again = shutil.copy2(contacts, contacts.with_name("hubspot-crm-exports-all-contacts-2.csv"))
    shuffle_csv(Path(again), seed=8)
    os.utime(again, ns=(contacts.stat().st_mtime_ns + 1,) * 2)
    shuffle_csv(demo / "ads/meta_ads/Segmart-Demo-Campaigns-Apr-1-2023-Apr-30-2023.csv")
    shuffle_jsonl_gz(demo / "web/ga4/events_20240629.jsonl.gz")
    split_csv(
        demo / "ads/google_ads/Campaign report 2023-03.csv",
        "Campaign report 2023-03 a.csv",
        "Campaign report 2023-03 b.csv",
    )
    split_csv(
        demo / "crm/hubspot/hubspot-crm-exports-all-deals-2025-01-01.csv",
        "hubspot-crm-exports-all-deals-2025-01-01 (1 of 2).csv",
        "hubspot-crm-exports-all-deals-2025-01-01 (2 of 2).csv",
    )
    ga4 = demo / "web/ga4/events_20240720.jsonl.gz"
    shutil.copy2(ga4, ga4.with_name("events_20240720 (1).jsonl.gz"))  # under a new name
    (demo / "again").mkdir()  # and under the same name in another folder
    shutil.copy2(demo / "crm/nps/delighted-responses-2025-01-01.csv", demo / "again")

    done = run(home, args=FAST)
    assert done.proc.returncode == 0, done.tail(60)
    _same_marts(home, baseline)


def test_1_disk_full_during_ingest(disk, baseline):
    disk.require()
    try:
        done = run(disk.home, disk.env, FAST)
        assert done.proc.returncode == 1
        line = _failure_line(done, "ingest_landing")
        assert "disk full: free space" in line
        # what the manifest records is complete (the batch in flight was dropped, not rejected)
        for path in (disk.home / "manifest").glob("*.json"):
            record = json.loads(path.read_text())
            assert record["status"] == "loaded", record
            for layer, rows in (("raw", "rows_written"), ("quarantine", "rows_quarantined")):
                if record[rows]:
                    assert (disk.home / layer / record["entity"] / f"{path.stem}.parquet").exists()
        assert not list(disk.home.rglob("*.tmp"))
        assert not list((disk.home / "rejected").iterdir())
        assert not (disk.home / "serving" / "marts.duckdb").exists()
    finally:
        disk.resize("512m")  # space again for the next runs


def test_2_kill_during_dbt_then_kill_mid_publish_then_rerun(disk, baseline):
    """Killed in dbt: nothing published, the rerun frees the slot and builds identical marts.
    Killed in that rerun between the swap of ``marts.duckdb`` and the Parquet files: the new
    database is complete and readable, and the next run recovers and finishes the publish."""
    killed = Run(disk.home, disk.env, (*FAST, "--verbose"))  # the event stream on stdout
    killed.wait_for(
        lambda: killed.count("segmart_dbt - ASSET_MATERIALIZATION") >= DBT_MODELS_BEFORE_KILL
    )
    killed.kill()
    serving = disk.home / "serving" / "marts.duckdb"
    assert not serving.exists()  # nothing was published yet: none, never half a copy

    paused = disk.home / "state" / "fault-publish.mid_swap.paused"
    rerun = Run(disk.home, {**disk.env, "SEGMART_FAULT_PAUSE": "publish.mid_swap"}, FAST)
    rerun.wait_for(paused.exists)
    assert "left unfinished by a killed process" in rerun.output  # its pool slot was freed
    # the rerun got as far as the publish, and swapped in a complete copy of its marts
    _same_marts(disk.home, baseline)
    assert not list(disk.home.glob("raw/**/*.tmp"))
    assert not list(disk.home.glob("manifest/**/*.tmp"))
    rerun.kill()
    paused.unlink()
    assert serving_readable(disk.home)  # the new database file, complete
    assert [p for p in (disk.home / "serving").rglob(".*.parquet")]  # the swap was cut

    done = run(disk.home, disk.env, FAST)
    assert done.proc.returncode == 0, done.tail(60)
    assert "left unfinished by a killed process" in done.output
    _same_marts(disk.home, baseline)
    _no_leftovers(disk.home)


def test_3_memory_cap_is_a_clear_error_and_publishes_nothing(disk, baseline):
    before = _serving_files(disk.home)
    assert before
    config = disk.home / "segmart.yaml"
    config.write_text("duckdb:\n  memory_limit: 1MB\n")
    try:
        done = run(disk.home, disk.env, FAST)
    finally:
        config.unlink()
    assert done.proc.returncode == 1
    assert any("out of memory: raise duckdb.memory_limit" in ln for ln in done.lines), done.tail()
    assert _serving_files(disk.home) == before
    serving_readable(disk.home)
    _no_leftovers(disk.home)


def test_4_disk_full_during_publish(disk, baseline):
    disk.require()
    before = _serving_files(disk.home)
    paused = disk.home / "state" / "fault-publish.start.paused"
    running = Run(disk.home, {**disk.env, "SEGMART_FAULT_PAUSE": "publish.start"}, FAST)
    running.wait_for(paused.exists)
    filler = disk.fill(leave=1 << 20)  # 1 MB left: the new copy (~12 MB) cannot be written
    try:
        (disk.home / "state" / "fault-publish.start.resume").touch()
        assert running.finish() == 1
    finally:
        filler.unlink()
    line = _failure_line(running, "serving__marts")
    assert "disk full: free space" in line
    assert _serving_files(disk.home) == before  # the previous copy, byte for byte
    serving_readable(disk.home)
    _no_leftovers(disk.home)
