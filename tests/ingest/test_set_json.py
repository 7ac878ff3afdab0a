"""GA4 JSON lines read set-based by DuckDB (pipelines/ingest/setjson.py) write the same raw
and quarantine Parquet as the Python reader, row by row.

Each test lands the same files in two homes and ingests one with ``set_based=False`` (every
file read by the vectorised Python reader: the reference) and one with the default; every
``raw/*/{sha}.parquet`` and ``quarantine/*/{sha}.parquet`` must hold the same rows and the
manifests the same counts, reasons and drift notes (``assert_same_output``). The manifest's
``read_by`` must say that DuckDB read the files it should (an equality of two Python reads
would prove nothing) and that the Python reader read the ones it cannot promise.

The files are GA4 BigQuery exports as the export writes them (INT64 as JSON strings, nulls
left out, ``event_params`` as ``{key, value: {string_value | int_value | double_value}}``),
built from the real flattened GA4 fixture (fivetran_dbt_ga4_export) and by hand.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.ingest import run_ingest, setjson
from tests.ingest.test_set_based import assert_same_output, manifests

FIXTURE = "fivetran_dbt_ga4_export/event_data.csv"


def land(home: Path, files: dict[str, bytes]) -> None:
    """The files, oldest first in the order given (the ingest's order)."""
    for k, (rel, data) in enumerate(files.items()):
        target = home / "landing" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.utime(target, (1_700_000_000 + 60 * k, 1_700_000_000 + 60 * k))


def ingest_both(root: Path, files: dict[str, bytes], config: str = "") -> tuple[Path, Path]:
    old, new = root / "python", root / "duckdb"
    land(old, files)
    shutil.copytree(old / "landing", new / "landing")  # the same bytes and mtimes
    for home in (old, new):
        if config:
            (home / "segmart.yaml").write_text(config)
    run_ingest(old, set_based=False)
    run_ingest(new, json_set_based=True)
    return old, new


def by_file(home: Path) -> dict[str, dict]:
    return {r["file"]: r for r in manifests(home).values()}


def lines(records: list[dict], gz: bool = True) -> bytes:
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
    return gzip.compress(data, mtime=0) if gz else data


def param(key: str, value) -> dict:
    """A GA4 event param as the BigQuery JSON export writes it."""
    if isinstance(value, bool | str):
        return {"key": key, "value": {"string_value": str(value)}}
    if isinstance(value, int):
        return {"key": key, "value": {"int_value": str(value)}}  # INT64 as a JSON string
    return {"key": key, "value": {"double_value": value}}


# ------------------------------------------------------------------- the real GA4 fixture


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def fixture_records(path: Path) -> list[dict]:
    """The real flattened GA4 export (Fivetran) written back in the BigQuery export's
    nested shape: param_* → event_params, device_/geo_/traffic_source_/ecommerce_ →
    structs; empty cells left out (as BigQuery leaves nulls out)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    out = []
    for row in body:
        cells = {}
        for name, value in zip(header, row, strict=True):
            if value != "":
                cells.setdefault(name, value)  # the fixture has param_session_engaged twice
        ts = datetime.fromisoformat(cells["timestamp"])
        rec: dict = {
            "event_date": ts.strftime("%Y%m%d"),
            "event_timestamp": str(int(ts.timestamp() * 1_000_000)),
            "event_name": cells["name"],
            "event_params": [
                param(k.removeprefix("param_"), _number(v))
                for k, v in cells.items()
                if k.startswith("param_")
            ],
        }
        for struct in ("device", "geo", "traffic_source", "ecommerce"):
            fields = {
                k.removeprefix(struct + "_"): v for k, v in cells.items() if k.startswith(struct)
            }
            if struct == "ecommerce":  # BigQuery's FLOAT64 fields are JSON numbers
                fields = {k: float(v) if "value" in k or "revenue" in k else v
                          for k, v in fields.items()}  # fmt: skip
            if fields:
                rec[struct] = fields
        manual = {
            k.removeprefix("collected_traffic_source_"): v
            for k, v in cells.items()
            if k.startswith("collected_traffic_source_")
        }
        if manual:
            rec["collected_traffic_source"] = manual
        for name in ("user_id", "user_pseudo_id", "stream_id", "platform"):
            if name in cells:
                rec[name] = cells[name]
        rec["batch_event_index"] = int(cells["batch_event_index"])  # a JSON integer
        rec["is_intraday"] = cells.get("is_intraday") == "True"  # a JSON boolean
        out.append(rec)
    return out


@pytest.fixture(scope="module")
def fixture_homes(shared_fixtures, tmp_path_factory):
    records = fixture_records(shared_fixtures / FIXTURE)
    files = {
        "ga4/events_20240910.jsonl.gz": lines(records),
        "ga4/events_20240911.json": lines(records[::-1], gz=False),
    }
    return records, ingest_both(tmp_path_factory.mktemp("ga4_fixture"), files)


def test_real_ga4_fixture_reads_the_same_by_both_paths(fixture_homes):
    records, (old, new) = fixture_homes
    assert_same_output(old, new)
    assert {f: r["read_by"] for f, r in by_file(new).items()} == {
        "ga4/events_20240910.jsonl.gz": "duckdb",
        "ga4/events_20240911.json": "duckdb",
    }
    # what the rows hold, computed from the fixture apart from the mapping
    raw = pq.read_table(new / "raw" / "events").to_pylist()
    assert len(raw) == 2 * len(records)
    day = sorted(
        (r for r in raw if r["_source_file"] == "ga4/events_20240910.jsonl.gz"),
        key=lambda r: r["_source_row"],
    )
    assert [r["event_name"] for r in day] == [r["event_name"] for r in records]
    params = [{p["key"]: p["value"] for p in r["event_params"]} for r in records]
    assert [r["session_id"] for r in day] == [
        p.get("ga_session_id", {}).get("string_value") for p in params
    ]
    assert [r["country"] for r in day] == [r["geo"]["country"] for r in records]
    assert [r["first_user_source"] for r in day] == [
        r.get("traffic_source", {}).get("source") for r in records
    ]
    assert [r["transaction_id"] for r in day] == [
        r.get("ecommerce", {}).get("transaction_id") for r in records
    ]


# ------------------------------------------------------------------- shapes written here


def event(i: int, day: str = "20240301", **extra) -> dict:
    """One GA4 event; params with int (a JSON string), double and string values."""
    rec = {
        "event_date": day,
        "event_timestamp": str(1709251200000000 + i * 1_000_000),
        "event_name": ["page_view", "purchase", "scroll"][i % 3],
        "event_params": [
            param("ga_session_id", 1709251200 + i // 5),
            param("page_location", f"https://shop.example/p/{i}?utm_source=news"),
            param("engagement_time_msec", i * 7),
        ],
        "user_pseudo_id": f"{i % 9}.1700000000",
        "device": {"category": ["desktop", "mobile"][i % 2], "web_info": {"browser": "Chrome"}},
        "geo": {"country": "Germany", "city": "Berlin"},
    }
    if i % 3 == 1:  # a purchase: double and integral-double values
        rec["event_params"] += [
            param("transaction_id", f"T{i}"),
            param("value", [19.0, 24.5, 1e-05, 120.25][i % 4]),
            param("currency", "EUR"),
        ]
        rec["ecommerce"] = {"transaction_id": f"T{i}", "purchase_revenue": 19.0 + i}
    if i % 4 == 0:  # a key only some lines have, and a user property
        rec["user_id"] = f"C{i}"
        rec["user_properties"] = [
            {
                "key": "email",
                "value": {"string_value": f"u{i}@example.com", "set_timestamp_micros": "1"},
            }
        ]
    rec.update(extra)
    return rec


def events(n: int, start: int = 0, **extra) -> list[dict]:
    return [event(i, **extra) for i in range(start, start + n)]


@pytest.fixture(scope="module")
def shape_homes(tmp_path_factory):
    late = events(2_500)
    late[2_300]["event_params"].append(param("campaign", "late_key"))  # past the probe
    late[2_301]["collected_traffic_source"] = {"manual_source": "newsletter", "gclid": "g1"}
    mixed = events(30)
    mixed[4]["event_params"][2] = {"key": "engagement_time_msec", "value": {"int_value": 19}}
    mixed[5]["event_params"][2] = {"key": "engagement_time_msec", "value": {"double_value": 19.0}}
    mixed[6]["event_params"].append(param("ga_session_id", 42))  # a key twice: the last wins
    mixed[7]["event_params"] = []  # an empty list: a column of its own, null
    for i, value in (
        (9, {"double_value": 19.0}),
        (10, {"int_value": 19}),
        (11, {"double_value": 1e-05}),
    ):
        mixed[i]["event_params"][0] = {"key": "ga_session_id", "value": value}
    bad_ts = events(12)
    bad_ts[3]["event_timestamp"] = "not a time"  # quarantined with its record
    bad_ts[8]["event_name"] = "é ü \u2603"
    bad_line = lines(events(20), gz=False).replace(b'"scroll"', b'"scroll', 1)
    nulls = events(10)
    nulls[2]["user_id"] = None  # a null key is a column of its own in the Python reader
    files = {
        "ga4/events_20240301.jsonl.gz": lines(events(300)),
        "ga4/events_20240302.jsonl.gz": lines(events(200, start=300, day="20240302")),
        "ga4/late_keys/events_20240303.jsonl.gz": lines(late),
        "ga4/mixed/events_20240304.jsonl": lines(mixed, gz=False),
        "ga4/bad_ts/events_20240305.jsonl.gz": lines(bad_ts),
        "ga4/bad_line/events_20240306.json": bad_line,
        "ga4/nulls/events_20240307.jsonl.gz": lines(nulls),
        "ga4/blank/events_20240308.jsonl": lines(events(5), gz=False) + b"\n",
        "ga4/empty/events_20240309.jsonl.gz": gzip.compress(b"", mtime=0),
    }
    return ingest_both(tmp_path_factory.mktemp("ga4_shapes"), files)


def test_ga4_shapes_read_the_same_by_both_paths(shape_homes):
    old, new = shape_homes
    assert_same_output(old, new)
    got = by_file(new)
    for rel in (
        "ga4/events_20240301.jsonl.gz",
        "ga4/events_20240302.jsonl.gz",
        "ga4/late_keys/events_20240303.jsonl.gz",
        "ga4/mixed/events_20240304.jsonl",
        "ga4/bad_ts/events_20240305.jsonl.gz",
    ):
        assert got[rel]["read_by"] == "duckdb", (rel, got[rel]["read_by_why"])
    # what DuckDB cannot promise goes to the Python reader alone, with the reason
    assert got["ga4/bad_line/events_20240306.json"]["read_by"] == "python"
    assert "DuckDB cannot read it" in got["ga4/bad_line/events_20240306.json"]["read_by_why"]
    assert "null values" in got["ga4/nulls/events_20240307.jsonl.gz"]["read_by_why"]
    assert "blank lines" in got["ga4/blank/events_20240308.jsonl"]["read_by_why"]
    assert got["ga4/blank/events_20240308.jsonl"]["rows_skipped"] == {"blank lines": 1}
    assert got["ga4/bad_line/events_20240306.json"]["rows_quarantined"] == 1
    assert got["ga4/empty/events_20240309.jsonl.gz"]["rows_read"] == 0


def test_header_of_the_whole_file_gives_the_drift_notes(shape_homes):
    """A key first seen past the probe's 2,000 lines is in the file's header (drift)."""
    _, new = shape_homes
    rec = by_file(new)["ga4/late_keys/events_20240303.jsonl.gz"]
    unmapped = next(n for n in rec["drift"] if n.startswith("unmapped"))
    assert "param_engagement_time_msec" in unmapped and "user_properties" not in unmapped
    assert "collected_traffic_source_manual_source" not in unmapped  # mapped (utm_source)
    raw = pq.read_table(new / "raw" / "events").to_pandas()
    late = raw[raw["_source_file"] == "ga4/late_keys/events_20240303.jsonl.gz"]
    assert late.set_index("_source_row").loc[2302, "utm_source"] == "newsletter"
    assert late.set_index("_source_row").loc[2301, "session_campaign"] == "late_key"


def test_number_text_and_quarantine_records(shape_homes):
    """19 and 19.0 stay apart (str() of the JSON value); a bad timestamp is quarantined
    with every header column of its line as the record."""
    _, new = shape_homes
    raw = pq.read_table(new / "raw" / "events").to_pylist()
    mixed = {
        r["_source_row"]: r for r in raw if r["_source_file"] == "ga4/mixed/events_20240304.jsonl"
    }
    assert mixed[7]["session_id"] == "42"  # the last ga_session_id of line 7
    assert mixed[8]["session_id"] is None  # event_params: []
    revenue = {r["transaction_id"]: r["revenue"] for r in raw if r["transaction_id"]}
    assert revenue["T1"] == 20.0 and revenue["T4"] == 23.0  # ecommerce before param value
    assert mixed[10]["session_id"] == "19.0" and mixed[11]["session_id"] == "19"
    assert mixed[12]["session_id"] == "1e-05"
    q = pq.read_table(new / "quarantine" / "events").to_pylist()
    [row] = [r for r in q if r["_source_file"] == "ga4/bad_ts/events_20240305.jsonl.gz"]
    assert row["_source_row"] == 4 and row["reason"] == "bad timestamp 'not a time' in event_at"
    record = json.loads(row["record"])
    assert record["event_timestamp"] == "not a time" and record["param_ga_session_id"]
    assert "user_property_email" in record  # a header column this line lacks: null
    assert record["user_property_email"] is None


def test_decompression_bomb_limit_holds(tmp_path):
    """A gzip file past the configured limit is rejected by both paths alike."""
    data = lines(events(3_000))
    config = "ingest:\n  gzip_max_ratio: 2\n  gzip_min_allowance_mb: 0\n"
    old, new = ingest_both(tmp_path, {"ga4/events_20240310.jsonl.gz": data}, config)
    assert_same_output(old, new)
    [rec] = by_file(new).values()
    assert rec["status"] == "rejected" and "decompression bomb" in rec["reason"]


def test_rerun_loads_nothing_again(tmp_path):
    files = {"ga4/events_20240311.jsonl.gz": lines(events(50))}
    _, new = ingest_both(tmp_path, files)
    before = sorted(p.name for p in (new / "raw" / "events").glob("[0-9a-f]*.parquet"))
    report = run_ingest(new, json_set_based=True)
    assert report.files == [] and report.unchanged == 1
    assert sorted(p.name for p in (new / "raw" / "events").glob("[0-9a-f]*.parquet")) == before


def test_keys_past_the_detection_sample_are_read(tmp_path, monkeypatch):
    """DuckDB detects the structure from a sample of the files; a file with keys the sample
    lacks (counted in its bytes) is scanned again alone with its every line detected."""
    monkeypatch.setattr(setjson, "SAMPLE_FILES", 1)
    later = events(40, start=100, day="20240313")
    for rec in later[::3]:
        rec["collected_traffic_source"] = {"manual_source": "newsletter", "manual_medium": "email"}
        rec["privacy_info"] = {"analytics_storage": "Yes"}
    files = {
        "ga4/events_20240312.jsonl.gz": lines(events(40)),
        "ga4/events_20240313.jsonl.gz": lines(later),
    }
    old, new = ingest_both(tmp_path, files)
    assert_same_output(old, new)
    assert {r["read_by"] for r in by_file(new).values()} == {"duckdb"}
    raw = pq.read_table(new / "raw" / "events").to_pylist()
    got = sorted(r["_source_row"] for r in raw if r["utm_source"] == "newsletter")
    assert got == list(range(1, 41, 3))


def test_required_column_past_the_probe(tmp_path):
    """The probe holds the first 2,000 lines' keys: a match column first seen later still
    loads the file with its mapping; one absent from every line rejects it, alike."""
    late = events(2_100)
    for rec in late[:2_050]:
        del rec["user_pseudo_id"]
    never = [{k: v for k, v in r.items() if k != "user_pseudo_id"} for r in events(30)]
    files = {
        "ga4/events_20240314.jsonl.gz": lines(late),
        "ga4/events_20240315.jsonl.gz": lines(never),
    }
    old, new = ingest_both(tmp_path, files)
    assert_same_output(old, new)
    got = by_file(new)
    assert got["ga4/events_20240314.jsonl.gz"]["status"] == "loaded"
    assert got["ga4/events_20240314.jsonl.gz"]["mapping"] == "ga4_bigquery_events"
    assert got["ga4/events_20240314.jsonl.gz"]["rows_loaded"] == 2_100
    assert got["ga4/events_20240315.jsonl.gz"]["status"] == "rejected"
    assert "no mapping matches" in got["ga4/events_20240315.jsonl.gz"]["reason"]
