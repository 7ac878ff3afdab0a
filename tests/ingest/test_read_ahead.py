"""JSON-lines (GA4) files opened ahead of the file loop on two threads (loader.ReadAhead)
write the same raw and quarantine Parquet and manifests as files opened in the loop.

The same landing (generated GA4 days, an invalid line, a truncated gzip, an empty file, a
copy of a day under another name) is ingested twice: once as shipped (read-ahead on) and once
with ``READ_AHEAD_FILES = 0`` (nothing submitted: every file opened in the loop, as before
the read-ahead). Outputs are compared by ``test_set_based.assert_same_output``; the
``_ingested_at`` order must follow the files' order; counts reconcile with the lines landed.
"""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import datetime

import pyarrow.parquet as pq
import pytest

from generator import generate
from pipelines.core.manifest import Manifest
from pipelines.ingest import loader, run_ingest
from pipelines.ingest.readers import ReaderOptions, SourceFile
from tests.ingest.test_set_based import assert_same_output, land


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    root = tmp_path_factory.mktemp("read_ahead")
    generate(root / "demo", 0.01, 5)
    ga4 = sorted((root / "demo" / "web" / "ga4").glob("events_*.jsonl.gz"))[:10]
    files: dict = {f"web/ga4/{p.name}": p for p in ga4}
    lines = gzip.decompress(ga4[0].read_bytes()).splitlines(keepends=True)
    files["web/ga4/events_bad_line.jsonl"] = b"".join([*lines[:3], b"{not json\n", *lines[3:6]])
    files["web/ga4/events_truncated.jsonl.gz"] = ga4[1].read_bytes()[:200]
    files["web/ga4/events_empty.jsonl"] = b""
    files["web/ga4/events_copy.jsonl.gz"] = ga4[2].read_bytes()  # same content: a duplicate
    ahead, inline = root / "ahead", root / "inline"
    land(ahead, files)
    for k, rel in enumerate(sorted(files)):  # a known order (oldest first), not the copy's
        t = 1_700_000_000 + 60 * k
        os.utime(ahead / "landing" / rel, (t, t))
    shutil.copytree(ahead / "landing", inline / "landing")  # the same bytes and mtimes
    run_ingest(ahead)
    mp = pytest.MonkeyPatch()
    mp.setattr(loader, "READ_AHEAD_FILES", 0)
    try:
        run_ingest(inline)
    finally:
        mp.undo()
    return ahead, inline, files


def test_read_ahead_writes_what_the_loop_writes(homes):
    ahead, inline, files = homes
    assert_same_output(inline, ahead)
    got = {r["file"]: r for r in Manifest(ahead / "manifest").records(include_duplicates=True)}
    assert set(got) == set(files)
    assert got["web/ga4/events_truncated.jsonl.gz"]["status"] == "rejected"
    assert "decompress" in got["web/ga4/events_truncated.jsonl.gz"]["reason"]
    assert got["web/ga4/events_empty.jsonl"]["reason"] == "empty file: nothing to load"
    original = next(
        rel
        for rel, src in files.items()
        if src is files["web/ga4/events_copy.jsonl.gz"]
        or (
            not isinstance(src, bytes) and src.read_bytes() == files["web/ga4/events_copy.jsonl.gz"]
        )
    )
    copy = got["web/ga4/events_copy.jsonl.gz"]  # landed after its original (mtimes by name)
    assert (copy["status"], copy["duplicate_of"]) == ("skipped_duplicate", original)
    assert got[original]["status"] == "loaded"
    bad = got["web/ga4/events_bad_line.jsonl"]
    assert (bad["rows_loaded"], bad["rows_quarantined"]) == (6, 1)
    # counts reconcile with the lines landed, computed from the files
    landed = 0
    for rel, src in files.items():
        rec = got[rel]
        if rec["status"] != "loaded" or not rec["rows_read"]:
            continue
        data = src if isinstance(src, bytes) else src.read_bytes()
        text = gzip.decompress(data) if rel.endswith(".gz") else data
        landed += sum(1 for line in text.splitlines() if line.strip())
    raw = pq.read_table(ahead / "raw" / "events")
    quarantined = sum(r["rows_quarantined"] for r in got.values())
    assert raw.num_rows + quarantined == landed


def test_each_file_keeps_its_place_in_the_ingest_order(homes):
    ahead, _inline, files = homes
    recs = sorted(Manifest(ahead / "manifest").records(True), key=lambda r: r["file"])
    assert len(recs) == len(files)
    at = [datetime.fromisoformat(r["ingested_at"]) for r in recs]
    assert at == sorted(at)  # mtimes follow the names: the later file, the later time


def test_rerun_reads_nothing_again(homes):
    ahead, _inline, files = homes
    before = {p: p.stat().st_mtime_ns for p in (ahead / "raw").rglob("*.parquet")}
    report = run_ingest(ahead)
    assert report.files == [] and report.unchanged == len(files)
    assert {p: p.stat().st_mtime_ns for p in (ahead / "raw").rglob("*.parquet")} == before


def test_a_file_opened_ahead_is_the_file_opened_here(homes):
    _ahead, _inline, files = homes
    paths = [p for p in files.values() if not isinstance(p, bytes)][:3]
    ahead = loader.ReadAhead(paths, ReaderOptions(), None)
    try:
        for path in paths:
            source = ahead.take(path).result()
            own = SourceFile(path)
            assert source.header == own.header
            a = next(source.chunks()).table
            b = next(own.chunks()).table
            assert a.equals(b)
    finally:
        ahead.close()
    assert ahead.take(paths[0]) is None  # each file handed out once
