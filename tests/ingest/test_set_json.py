"""GA4 JSON lines read set-based (pipelines/ingest/setjson.py, ``json_set_based=True``) write
the same raw and quarantine Parquet and manifests as the Python reader, row by row.

The same files land in two homes: one is ingested with ``set_based=False`` (every file read by
the Python reader: the reference), the other with ``json_set_based=True``. Outputs are compared
with ``test_set_based.assert_same_output`` (every column but the run's clock; manifests equal
but for ``read_by`` / ``read_by_why``). The manifests must also show that DuckDB really read
the files it should, and that the shapes it does not cover went to Python with their reason.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.generate import generate
from pipelines.ingest import run_ingest
from tests.ingest.test_set_based import assert_same_output, land, manifests


def ingest_json_both(root: Path, files: dict[str, Path | bytes]) -> tuple[Path, Path]:
    old, new = root / "per_file", root / "set_based"
    land(old, files)
    shutil.copytree(old / "landing", new / "landing")  # the same bytes and mtimes
    run_ingest(old, set_based=False)
    run_ingest(new, set_based=True, json_set_based=True)
    return old, new


def by_file(home: Path) -> dict[str, dict]:
    return {r["file"]: r for r in manifests(home).values()}


# ---------------------------------------------------------------------------- generator


@pytest.fixture(scope="module")
def demo_homes(tmp_path_factory):
    root = tmp_path_factory.mktemp("set_json_demo")
    generate(root / "demo", 0.01, 5)
    ga4 = sorted((root / "demo" / "web" / "ga4").glob("events_*.jsonl.gz"))
    # a slice of days, purchases included (bounded test time)
    picked = ga4[:12]
    with_purchase = [p for p in ga4 if b'"purchase"' in gzip.decompress(p.read_bytes())]
    picked += [p for p in with_purchase[:4] if p not in picked]
    files = {p.relative_to(root / "demo").as_posix(): p for p in picked}
    return ingest_json_both(root, files), files


def test_demo_ga4_export_read_set_based_equals_the_python_reader(demo_homes):
    (old, new), files = demo_homes
    assert_same_output(old, new)
    got = by_file(new)
    assert set(got) == set(files)
    assert all(r["read_by"] == "duckdb" for r in got.values()), {
        f: r["read_by_why"] for f, r in got.items() if r["read_by"] != "duckdb"
    }
    raw = pq.read_table(new / "raw" / "events")
    # counts reconcile with the lines landed (computed from the files, not from the loader)
    lines = sum(len(gzip.decompress(p.read_bytes()).splitlines()) for p in files.values())
    quarantined = sum(r["rows_quarantined"] for r in got.values())
    assert raw.num_rows + quarantined == lines
    purchases = [r for r in raw.to_pylist() if r["event_name"] == "purchase"]
    assert purchases and any(r["revenue"] is not None for r in purchases)


def test_set_json_rerun_loads_nothing_again(demo_homes):
    (_old, new), _files = demo_homes
    before = {p: p.stat().st_mtime_ns for p in (new / "raw").rglob("*.parquet")}
    report = run_ingest(new, set_based=True, json_set_based=True)
    assert report.files == [] and report.unchanged == len(_files)
    assert {p: p.stat().st_mtime_ns for p in (new / "raw").rglob("*.parquet")} == before


# ---------------------------------------------------------------------------- shapes


def event(i: int, **over) -> dict:
    """One GA4 BigQuery export event as the export writes it (int64 as strings)."""
    e = {
        "event_date": "20240601",
        "event_timestamp": str(1717200000000000 + i * 1_000_000),
        "event_name": "page_view",
        "event_params": [
            {"key": "ga_session_id", "value": {"int_value": "1717200000"}},
            {"key": "page_location", "value": {"string_value": f"https://x.test/p{i}"}},
            {"key": "engaged", "value": {"int_value": 1}},
        ],
        "user_pseudo_id": f"{100 + i}.1717200000",
        "device": {"category": "mobile", "web_info": {"browser": "Chrome"}},
        "geo": {"country": "France"},
        "traffic_source": {"name": "(direct)", "medium": "(none)", "source": "(direct)"},
    }
    e.update(over)
    return e


def jsonl(events: list, gz: bool = True, sep: str = "\n") -> bytes:
    text = sep.join(e if isinstance(e, str) else json.dumps(e) for e in events) + "\n"
    return gzip.compress(text.encode()) if gz else text.encode()


PURCHASE = {
    "event_name": "purchase",
    "ecommerce": {"transaction_id": "#1001", "purchase_revenue": 155.97, "tax_value": 0.0},
    "event_params": [
        {"key": "ga_session_id", "value": {"int_value": "1717200000"}},
        {"key": "currency", "value": {"string_value": "EUR"}},
        {"key": "value", "value": {"double_value": 155.97}},
        {"key": "value", "value": {"double_value": 160.5}},  # a repeated key: the last wins
    ],
    "user_properties": [{"key": "email", "value": {"string_value": "a@b.test"}}],
}

SHAPES: dict[str, tuple[bytes, str]] = {  # file → (bytes, the path that must read it)
    "ga4/events_20240601.jsonl.gz": (jsonl([event(i) for i in range(40)]), "duckdb"),
    "ga4/events_20240602.jsonl": (jsonl([event(i) for i in range(5)], gz=False), "duckdb"),
    # later lines bring new keys (the header is the union, first-seen order); purchases with
    # doubles, a repeated key/value key, user_properties; a nested record that is null
    "ga4/events_20240603.jsonl.gz": (
        jsonl(
            [event(0), event(1, **PURCHASE), event(2, device=None), event(3, user_id="u3")]
            + [event(i, geo={"country": "Spain", "city": "Madrid"}) for i in range(4, 9)]
        ),
        "duckdb",
    ),
    # rows quarantined in the same pass (bad timestamp), with their records
    "ga4/events_20240604.jsonl.gz": (
        jsonl([event(0, event_timestamp="not a time"), event(1), event(2, event_timestamp="")]),
        "duckdb",
    ),
    # DuckDB would write these values otherwise than Python's str(): Python reads the file
    "ga4/events_20240605.jsonl.gz": (
        jsonl([event(0), event(1, ecommerce={"purchase_revenue": 1e20})]),
        "python",
    ),
    # a line that is not valid JSON: Python quarantines it with its own message
    "ga4/events_20240606.jsonl.gz": (jsonl([event(0), '{"event_name": "x",', event(2)]), "python"),
    # a blank line (skipped and counted by the Python reader)
    "ga4/events_20240607.jsonl.gz": (jsonl([event(0), "", event(1)]), "python"),
    # an event_params item that is not {key, value}: Python keeps the list as JSON text
    "ga4/events_20240608.jsonl.gz": (
        jsonl([event(0), event(1, event_params=[{"key": "a"}, {"key": "b", "value": {}}])]),
        "python",
    ),
    # CRLF line ends
    "ga4/events_20240609.jsonl": (jsonl([event(0), event(1)], gz=False, sep="\r\n"), "python"),
}


@pytest.fixture(scope="module")
def shape_homes(tmp_path_factory):
    root = tmp_path_factory.mktemp("set_json_shapes")
    return ingest_json_both(root, {name: data for name, (data, _) in SHAPES.items()})


def test_ga4_shapes_pick_their_path_and_equal_the_python_reader(shape_homes):
    old, new = shape_homes
    assert_same_output(old, new)
    got = by_file(new)
    for name, (_, path) in SHAPES.items():
        assert got[name]["read_by"] == path, (name, got[name]["read_by_why"])
        if path == "python":
            assert got[name]["read_by_why"], name
    quarantine = pq.read_table(new / "quarantine" / "events").to_pylist()
    bad = [r for r in quarantine if r["_source_file"].endswith("20240604.jsonl.gz")]
    assert sorted(r["_source_row"] for r in bad) == [1, 3]
    record = json.loads(bad[0]["record"])
    assert record["event_timestamp"] in ("not a time", "") and "param_page_location" in record


def test_ga4_shapes_values_are_the_python_flattening(shape_homes):
    """The flattened cells computed independently from the JSON: the last of a repeated
    key/value key, user_properties, doubles as str() writes them, a null nested record."""
    _old, new = shape_homes
    raw = pq.read_table(new / "raw" / "events").to_pylist()
    day3 = {r["_source_row"]: r for r in raw if r["_source_file"].endswith("20240603.jsonl.gz")}
    assert day3[2]["transaction_id"] == "#1001"
    assert str(day3[2]["revenue"]) in ("155.97", "155.970000")  # ecommerce first, then param
    assert day3[2]["currency"] == "EUR" and day3[2]["email"] is not None
    assert day3[3]["device_category"] is None and day3[1]["device_category"] == "mobile"
    assert day3[4]["user_id"] == "u3"
    assert {day3[r]["country"] for r in range(5, 10)} == {"Spain"}
