"""Readers: encodings, delimiters, preambles, footers, JSON flattening, and a property test."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipelines.ingest.readers import (
    ROW_COLUMN,
    ReaderOptions,
    ReadError,
    SourceFile,
    flatten_record,
    sniff_delimiter,
)


def read_all(path, **opts):
    src = SourceFile(path, ReaderOptions(**opts))
    rows, bad = [], []
    for chunk in src.chunks():
        rows += chunk.table.drop_columns([ROW_COLUMN]).to_pylist()
        bad += chunk.malformed
    return src, rows, bad


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("latin-1", b""), ("utf-16-le", b"\xff\xfe")],
)
def test_encodings_are_detected(tmp_path, encoding, bom):
    text = "name,city\r\nJosé,Zürich\r\nRené,Malmö\r\n"
    path = tmp_path / "x.csv"
    path.write_bytes(bom + text.encode(encoding))
    src, rows, _ = read_all(path)
    assert src.header == ["name", "city"]
    assert rows == [{"name": "José", "city": "Zürich"}, {"name": "René", "city": "Malmö"}]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, delimiter):
    lines = [["id", "amount", "note"], ["1", "1,5", "a b"], ["2", "2,25", "c"], ["3", "7", "d"]]
    path = tmp_path / "x.txt"
    with path.open("w", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(lines)
    src, rows, _ = read_all(path)
    assert src.info.delimiter == delimiter
    assert [r["amount"] for r in rows] == ["1,5", "2,25", "7"]


def test_sniffer_prefers_consistent_split():
    assert sniff_delimiter(["a;b;c", "1,5;2;x", "3;4,5;y"]) == ";"


def test_title_rows_footers_and_quoted_newlines(tmp_path):
    text = (
        "Campaign report\n"
        '"March 1, 2024 - March 31, 2024"\n'
        "Day,Campaign,Cost\n"
        '2024-03-01,"Spring\nsale","4,838.80"\n'
        "2024-03-02,Brand, --\n"
        "Total: Campaigns,,4838.80\n"
        "Total: Account,,4838.80\n"
    )
    path = tmp_path / "r.csv"
    path.write_text(text)
    src, rows, bad = read_all(path)
    assert src.header == ["Day", "Campaign", "Cost"]
    assert src.info.header_row == 3
    assert rows[0] == {"Day": "2024-03-01", "Campaign": "Spring\nsale", "Cost": "4,838.80"}
    assert len(rows) == 2 and not bad
    skipped = dict(src.info.skipped)
    assert skipped["title rows above the header"] == 2
    assert sum(v for k, v in skipped.items() if k.startswith("footer")) == 2
    assert src.info.preamble == ["Campaign report", "March 1, 2024 - March 31, 2024"]


def test_ga4_ui_preamble_second_table_and_grand_total(tmp_path):
    text = (
        "# ----------------------------------------\n"
        "# Traffic acquisition\n"
        "# Start date: 20250201\n"
        "# ----------------------------------------\n"
        "Session source / medium,Sessions\n"
        "google / cpc,120\n"
        "(direct) / (none),80\n"
        "Grand total,200\n"
        "\n"
        "# ----------------------------------------\n"
        "Date,Sessions\n"
        "20250201,200\n"
    )
    path = tmp_path / "ga4.csv"
    path.write_text(text)
    src, rows, _ = read_all(path)
    assert src.header == ["Session source / medium", "Sessions"]
    assert rows == [
        {"Session source / medium": "google / cpc", "Sessions": "120"},
        {"Session source / medium": "(direct) / (none)", "Sessions": "80"},
    ]
    assert src.info.skipped["further tables after a # block"] == 2


def test_ragged_rows_are_padded_or_reported(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b,c\n1,2\n3,4,5,6\n7,8,9,,\n")
    _, rows, bad = read_all(path)
    assert rows == [{"a": "1", "b": "2", "c": ""}, {"a": "7", "b": "8", "c": "9"}]
    assert bad == [(2, "row has 4 cells, header has 3", json.dumps(["3", "4", "5", "6"]))]


def test_gzip_jsonl_ga4_nesting(tmp_path):
    event = {
        "event_timestamp": "1709251200000000",
        "event_name": "purchase",
        "event_params": [
            {"key": "ga_session_id", "value": {"int_value": "42"}},
            {"key": "value", "value": {"double_value": 19.5}},
            {"key": "page_location", "value": {"string_value": "https://x.io/?utm_source=fb"}},
        ],
        "device": {"category": "mobile", "web_info": {"browser": "Chrome"}},
        "ecommerce": {"transaction_id": "#1001", "purchase_revenue": 19.5},
        "items": [{"item_id": "SKU-1"}],
    }
    path = tmp_path / "events_20240301.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(event) + "\n\n" + "{not json\n")
    src, rows, bad = read_all(path)
    assert src.info.format == "jsonl" and src.info.compression == "gzip"
    assert rows[0]["param_ga_session_id"] == "42"
    assert rows[0]["param_value"] == "19.5"
    assert rows[0]["device_web_info_browser"] == "Chrome"
    assert rows[0]["ecommerce_transaction_id"] == "#1001"
    assert json.loads(rows[0]["items"]) == [{"item_id": "SKU-1"}]
    assert [b[0] for b in bad] == [2]


def test_flatten_record_keeps_scalars_as_text():
    assert flatten_record({"a": True, "b": None, "c": 1.5, "d": {"e": 2}}) == {
        "a": "true",
        "b": None,
        "c": "1.5",
        "d_e": "2",
    }


def test_xlsx_is_read(tmp_path):
    import datetime

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Report title"])
    ws.append(["id", "when", "amount"])
    ws.append([13085.0, datetime.datetime(2024, 1, 2, 3, 4, 5), 1.5])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    src, rows, _ = read_all(path)
    assert src.info.format == "xlsx"
    assert rows == [{"id": "13085", "when": "2024-01-02 03:04:05", "amount": "1.5"}]


def test_garbage_is_a_read_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"   \n")
    with pytest.raises(ReadError, match="empty"):
        SourceFile(path)


cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=30))
def test_csv_round_trips_arbitrary_cells(tmp_path, rows):
    """Whatever text a cell holds (quotes, delimiters, newlines), it comes back unchanged."""
    assume(all("".join(r).strip() for r in rows))  # an all-blank row is not a record
    buf = io.StringIO()
    csv.writer(buf).writerows([["a", "b", "c"], *rows])
    path = tmp_path / "prop.csv"
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    src, got, bad = read_all(
        path, delimiter=",", encoding="utf-8", comment_prefix=None, footer_patterns=(), chunk_rows=7
    )
    assert not bad
    assert [[r["a"], r["b"], r["c"]] for r in got] == rows  # rows conserved, in order


def test_json_array_document_is_refused_with_advice(tmp_path):
    path = tmp_path / "events.json"
    path.write_text('[{"event_name": "x"},\n {"event_name": "y"}]\n')
    with pytest.raises(ReadError, match="newline-delimited JSON"):
        SourceFile(path)
