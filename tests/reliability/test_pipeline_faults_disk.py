"""A real ``segmart run`` meets a full disk or a memory cap (tests/reliability/faults.py).

1. the disk fills up during ingest (the home is a small tmpfs; root only, else skipped): the
   files loaded before are complete with their manifest records, the one in flight is
   dropped, not rejected, and nothing is published;
2. a memory cap far too low (``duckdb.memory_limit: 1MB`` in the home's segmart.yaml): a
   clear error, and the published copy stays byte for byte;
3. the disk fills up at the start of the publish (tmpfs again): the previous copy stays.

2 and 3 start from a copy of the published demo home, so they need no run of their own
before the fault.
"""

from __future__ import annotations

import json

import pytest

from tests.reliability.faults import (
    FAST,
    Disk,
    failure_line,
    no_leftovers,
    serving_files,
)
from tests.reliability.pipeline_home import Run, copy_landing, run, serving_readable
from tests.shared_homes import private_copy

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(landing, tmp_path_factory):
    """An empty home on a 3 MB tmpfs; its landing (read-only input) stays outside."""
    d = Disk(tmp_path_factory.mktemp("faulted") / "fs", size="3m")
    outside = copy_landing(landing, tmp_path_factory.mktemp("faulted_landing"))
    d.home.mkdir(parents=True)
    (d.home / "landing").symlink_to(outside / "landing", target_is_directory=True)
    yield d
    d.unmount()


@pytest.fixture(scope="module")
def published(baseline, tmp_path_factory):
    """A copy of the published demo home on a tmpfs with room for it and one more run."""
    d = Disk(tmp_path_factory.mktemp("published") / "fs", size="256m")
    private_copy(baseline, d.home)
    yield d
    d.unmount()


def test_disk_full_during_ingest(small_disk):
    disk = small_disk
    disk.require()
    done = run(disk.home, disk.env, FAST)
    assert done.proc.returncode == 1
    line = failure_line(done, "ingest_landing")
    assert "disk full: free space" in line
    # what the manifest records is complete (the batch in flight was dropped, not rejected)
    records = list((disk.home / "manifest").glob("*.json"))
    for path in records:
        record = json.loads(path.read_text())
        assert record["status"] == "loaded", record
        for layer, rows in (("raw", "rows_written"), ("quarantine", "rows_quarantined")):
            if record[rows]:
                assert (disk.home / layer / record["entity"] / f"{path.stem}.parquet").exists()
    assert not list(disk.home.rglob("*.tmp"))
    assert not list((disk.home / "rejected").iterdir())
    assert not (disk.home / "serving" / "marts.duckdb").exists()


def test_memory_cap_is_a_clear_error_and_publishes_nothing(published):
    home = published.home
    before = serving_files(home)
    assert before
    config = home / "segmart.yaml"
    config.write_text("duckdb:\n  memory_limit: 1MB\n")
    try:
        done = run(home, published.env, FAST)
    finally:
        config.unlink()
    assert done.proc.returncode == 1
    assert any("out of memory: raise duckdb.memory_limit" in ln for ln in done.lines), done.tail()
    assert serving_files(home) == before
    serving_readable(home)
    no_leftovers(home)


def test_disk_full_during_publish(published):
    disk = published
    disk.require()
    before = serving_files(disk.home)
    assert before
    paused = disk.home / "state" / "fault-publish.start.paused"
    running = Run(disk.home, {**disk.env, "SEGMART_FAULT_PAUSE": "publish.start"}, FAST)
    running.wait_for(paused.exists)
    # 256 KB left: not even the new copy's catalog (DuckDB allocates 256 KB blocks) fits, as
    # in a run whose marts are all unchanged (the publish then links the previous Parquet
    # files and writes only the catalog and the manifest); Dagster's own writes still do
    filler = disk.fill(leave=1 << 18)
    try:
        (disk.home / "state" / "fault-publish.start.resume").touch()
        assert running.finish() == 1
    finally:
        filler.unlink()
    line = failure_line(running, "serving__marts")
    assert "disk full: free space" in line
    assert serving_files(disk.home) == before  # the previous copy, byte for byte
    serving_readable(disk.home)
    no_leftovers(disk.home)
