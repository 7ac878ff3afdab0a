"""Loader: exactly-once, quarantine with reasons, rejection, drift, crash safety."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines.core.manifest import Manifest
from pipelines.ingest import check_file, run_ingest
from tests.ingest.conftest import land, manifests, quarantine, raw

GOOD = (
    "order_ref,ordered_on,amount,email\nA1,01/02/2024,10.50, Ann@Example.COM \nA2,15/03/2024,7,\n"
)


def test_loads_types_and_lineage(home):
    land(home, "shop/orders.csv", GOOD)
    report = run_ingest(home)
    [f] = report.files
    assert (f.status, f.mapping, f.rows_read, f.rows_loaded, f.rows_quarantined) == (
        "loaded",
        "test_orders",
        2,
        2,
        0,
    )
    df = raw(home, "orders")
    assert df["order_id"].tolist() == ["A1", "A2"]
    assert df["ordered_at"].tolist() == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-15")]
    assert df["net_amount"].tolist() == [10.5, 7.0]
    assert df["email"].tolist()[0] == "ann@example.com"  # trimmed and lower-cased
    assert df["currency"].tolist() == ["EUR", "EUR"]  # default
    assert df["_source_file"].unique().tolist() == ["shop/orders.csv"]
    assert df["_source_row"].tolist() == [1, 2]
    assert df["_file_hash"].unique().tolist() == [f.file_hash]
    assert (home / "raw" / "orders" / "_schema.parquet").exists()
    for entity in ("accounts", "events", "ad_spend_daily"):  # every entity has its schema file
        assert (home / "raw" / entity / "_schema.parquet").exists()


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("\ufefforder_ref,ordered_on,amount,note\r\nA1,01/02/2024,10.5,Café Müller\r\n", "utf-8"),
        ("order_ref,ordered_on,amount,note\nA1,01/02/2024,10.5,Café Müller\n", "latin-1"),
        (
            "\ufefforder_ref\tordered_on\tamount\tnote\r\nA1\t01/02/2024\t10.5\tCafé Müller\r\n",
            "utf-16-le",
        ),
        ("order_ref;ordered_on;amount;note\nA1;01/02/2024;10,5;Café Müller\n", "utf-8"),
    ],
    ids=["utf8-bom-crlf", "latin1", "utf16-tab", "semicolon-decimal-comma"],
)
def test_messy_encodings_and_separators(home, content, encoding):
    land(home, "o.csv", content, encoding)
    [f] = run_ingest(home).files
    assert f.status == "loaded", f.reason
    df = raw(home, "orders")
    assert df["net_amount"].tolist() == [10.5]
    assert json.loads(df["_extra"][0]) == {"note": "Café Müller"}  # drift evolve keeps it


def test_thousands_separators_and_decimal_comma(home):
    land(home, "a.csv", 'order_ref,ordered_on,amount\nA1,01/02/2024,"4,838.80"\nA2,01/02/2024,-\n')
    land(home, "b.csv", "order_ref;ordered_on;amount\nB1;01/02/2024;1.234,56\n")
    run_ingest(home)
    df = raw(home, "orders").sort_values("order_id")
    assert df["net_amount"].tolist()[:1] == [4838.8]
    assert pd.isna(df["net_amount"].tolist()[1])  # "-" is a null token
    assert df["net_amount"].tolist()[2] == 1234.56


def test_quoted_newlines_and_title_footer_rows(home):
    content = (
        "Orders export\nGenerated 2024-03-01\n"
        'order_ref,ordered_on,amount,note\nA1,01/02/2024,1,"two\nlines"\nA2,01/02/2024,2,x\n'
        "Total,,3,\n"
    )
    land(home, "o.csv", content)
    [f] = run_ingest(home).files
    assert (f.rows_read, f.rows_loaded) == (2, 2)
    assert f.rows_skipped == {"title rows above the header": 2, "footer/summary rows (Total)": 1}
    assert json.loads(raw(home, "orders")["_extra"][0]) == {"note": "two\nlines"}


def test_bad_rows_are_quarantined_with_reason_and_rows_reconcile(home):
    content = (
        "order_ref,ordered_on,amount\n"
        "A1,01/02/2024,1\n"
        "A2,32/13/2024,2\n"  # bad date
        ",01/02/2024,3\n"  # missing id
        "A4,01/02/2024,abc\n"  # bad number
        "A5,01/02/2024,5,extra\n"  # malformed: more cells than the header
    )
    land(home, "o.csv", content)
    [f] = run_ingest(home).files
    expected_rows = len(pd.read_csv(home / "landing" / "o.csv", on_bad_lines="skip")) + 1
    assert f.rows_read == expected_rows == f.rows_loaded + f.rows_quarantined
    assert (f.rows_loaded, f.rows_quarantined) == (1, 4)
    q = quarantine(home, "orders").set_index("_source_row")
    assert q.loc[2, "reason"] == "bad timestamp '32/13/2024' in ordered_at"
    assert q.loc[3, "reason"] == "missing required order_id"
    assert q.loc[4, "reason"] == "bad double 'abc' in net_amount"
    assert q.loc[5, "reason"] == "row has 4 cells, header has 3"
    assert json.loads(q.loc[2, "record"]) == {
        "order_ref": "A2",
        "ordered_on": "32/13/2024",
        "amount": "2",
    }
    assert set(q["_source_file"]) == {"o.csv"}


def test_same_content_under_a_new_name_loads_nothing(home):
    land(home, "orders.csv", GOOD)
    run_ingest(home)
    land(home, "copy/orders (1).csv", GOOD)
    [f] = run_ingest(home).files
    assert f.status == "skipped_duplicate" and f.duplicate_of == "orders.csv"
    assert len(raw(home, "orders")) == 2
    assert run_ingest(home).files == []  # now known by name, size and mtime: not re-hashed


def test_changed_file_with_same_name_is_a_new_version(home):
    path = land(home, "orders.csv", GOOD)
    run_ingest(home)
    path.write_text(GOOD + "A3,16/03/2024,1,\n")
    [f] = run_ingest(home).files
    assert f.status == "loaded" and f.rows_loaded == 3
    df = raw(home, "orders")
    assert len(df) == 5 and df["_file_hash"].nunique() == 2
    assert df.groupby("_file_hash")["_ingested_at"].first().nunique() == 2


def test_missing_required_column_rejects_file_naming_it(home):
    (home / "mappings" / "by_name.yaml").write_text(
        "name: by_name\nentity: orders\nsource_system: s\nmatch: {filename: ['legacy_*.csv']}\n"
        "columns:\n  order_id: order_ref\n  order_line_id: {const: '1'}\n"
        "  ordered_at: ordered_on\n"
    )
    land(home, "legacy_orders.csv", "ordered_on,amount\n01/02/2024,1\n")
    [f] = run_ingest(home).files
    assert f.status == "rejected"
    assert "legacy_orders.csv" in f.reason and "required column order_id" in f.reason
    assert "(order_ref)" in f.reason
    copies = sorted(p.name for p in (home / "rejected").iterdir())
    assert copies == [
        f"{f.file_hash}__legacy_orders.csv",
        f"{f.file_hash}__legacy_orders.csv.reason.txt",
    ]
    assert (home / "landing" / "legacy_orders.csv").exists()  # landing is never modified


def test_unreadable_and_unmapped_files_are_rejected(home):
    land(home, "blob.csv", b"\x00\x01\x02" * 10 + b"\n" + bytes(range(256)))
    land(home, "other.csv", "x,y\n1,2\n")
    results = {f.file: f for f in run_ingest(home).files}
    assert results["other.csv"].status == "rejected"
    assert "no mapping matches (header: x, y)" in results["other.csv"].reason
    assert results["blob.csv"].status == "rejected"
    reason_files = list((home / "rejected").glob("*.reason.txt"))
    assert len(reason_files) == 2
    assert {m["status"] for m in manifests(home)} == {"rejected"}


def test_hidden_temp_and_underscore_files_are_skipped(home):
    for name in (".hidden.csv", "x.csv.part", "~$book.xlsx", "_expected.json"):
        land(home, name, GOOD)
    assert run_ingest(home).files == []


def test_drift_reject_names_the_column(home):
    text = (home / "mappings" / "test_orders.yaml").read_text() + "drift: reject\n"
    (home / "mappings" / "test_orders.yaml").write_text(text)
    land(home, "o.csv", "order_ref,ordered_on,amount,surprise\nA1,01/02/2024,1,x\n")
    [f] = run_ingest(home).files
    assert f.status == "rejected" and "unexpected column(s) surprise" in f.reason


def test_ambiguous_mappings_are_reported(home):
    text = (home / "mappings" / "test_orders.yaml").read_text()
    (home / "mappings" / "twin.yaml").write_text(text.replace("name: test_orders", "name: twin"))
    land(home, "o.csv", GOOD)
    [f] = run_ingest(home).files
    assert f.status == "rejected" and "ambiguous" in f.reason and "twin" in f.reason


def test_crash_before_manifest_reingests_idempotently(home, monkeypatch):
    land(home, "o.csv", GOOD)

    def boom(self, record):
        raise RuntimeError("power cut")

    monkeypatch.setattr(Manifest, "write", boom)
    with pytest.raises(RuntimeError):
        run_ingest(home)
    assert manifests(home) == []
    monkeypatch.undo()
    [f] = run_ingest(home).files
    assert f.status == "loaded"
    assert len(raw(home, "orders")) == 2  # the same hash-named file, rewritten once
    assert not list((home / "raw" / "orders").glob(".*.tmp"))


def test_check_file_is_a_dry_run(home):
    path = land(home, "o.csv", "order_ref,ordered_on,amount\nA1,01/02/2024,1\nA2,bad,2\n")
    result = check_file(path, home=home)
    assert result.ok and result.mapping == "test_orders" and result.entity == "orders"
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    assert result.reasons == {"bad timestamp '…' in ordered_at": 1}
    assert result.columns["order_id"] == ["order_ref"]
    assert "would quarantine 1" in str(result)
    assert not (home / "manifest").exists() and not (home / "raw").exists()


def test_user_mapping_overrides_shipped_one_by_name(home):
    (home / "mappings" / "maven.yaml").write_text(
        "name: maven_crm_accounts\nentity: accounts\nsource_system: mine\n"
        "match: {columns: [account, sector]}\ncolumns:\n  account_id: account\n"
    )
    land(home, "accounts.csv", "account,sector\nAcme,tech\n")
    [f] = run_ingest(home).files
    assert f.status == "loaded" and f.source_system == "mine"
    assert raw(home, "accounts")["account_id"].tolist() == ["Acme"]


def test_entities_filter_leaves_other_files_for_later(home):
    land(home, "o.csv", GOOD)
    assert run_ingest(home, entities=["accounts"]).files == []
    [f] = run_ingest(home, entities=["orders"]).files
    assert f.status == "loaded"


def test_ordinals_and_fill_down_carry_across_chunks(home):
    (home / "mappings" / "lines.yaml").write_text(
        "name: lines\nentity: orders\nsource_system: s\nmatch: {columns: [Invoice, StockCode]}\n"
        "reader: {chunk_rows: 2}\n"
        "fill_down: {by: [Invoice], columns: [Date]}\n"
        "ordinals: {_seq: [Invoice, StockCode]}\n"
        "columns:\n  order_id: Invoice\n"
        "  order_line_id: {expr: \"src.StockCode || '-' || src._seq\"}\n"
        "  ordered_at: Date\n"
    )
    rows = ["I1,A,2024-01-01", "I1,A,", "I1,B,", "I1,A,", "I2,A,2024-01-02"]
    land(home, "lines.csv", "Invoice,StockCode,Date\n" + "\n".join(rows) + "\n")
    [f] = run_ingest(home).files
    assert f.rows_loaded == 5, f.quarantine_reasons
    df = raw(home, "orders").sort_values("_source_row")
    assert df["order_line_id"].tolist() == ["A-1", "A-2", "B-1", "A-3", "A-1"]
    assert df["ordered_at"].tolist() == [pd.Timestamp("2024-01-01")] * 4 + [
        pd.Timestamp("2024-01-02")
    ]


def test_manifest_written_only_after_its_parquet_is_durable(home, monkeypatch):
    """Each manifest rename comes after its Parquet renames and an fsync of their folders;
    the manifest folder is synced after the last record (directory fsyncs are batched)."""
    import os

    from pipelines.core import manifest
    from pipelines.ingest import loader

    events: list[tuple[str, str]] = []
    real_replace, real_fsync = os.replace, manifest.fsync_path

    def replace(src, dst):
        real_replace(src, dst)
        events.append(("rename", str(dst)))

    def fsync_path(path):
        real_fsync(path)
        events.append(("fsync", str(path)))

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(loader, "fsync_path", fsync_path)
    monkeypatch.setattr(manifest, "fsync_path", fsync_path)
    land(home, "a.csv", GOOD)
    land(home, "b.csv", "order_ref,ordered_on,amount\nB1,01/02/2024,1\nB2,32/13/2024,2\n")
    land(home, "c.csv", "order_ref,ordered_on,amount\nC1,02/02/2024,3\n")
    report = run_ingest(home)
    assert [f.status for f in report.files] == ["loaded"] * 3

    def index(kind: str, path) -> int:
        return events.index((kind, str(path)))

    parquets = 0
    for f in report.files:
        record = home / "manifest" / f"{f.file_hash}.json"
        written = index("rename", record)
        for layer in ("raw", "quarantine"):
            target = home / layer / "orders" / f"{f.file_hash}.parquet"
            if target.exists():
                parquets += 1
                renamed = index("rename", target)
                synced = [i for i, e in enumerate(events) if e == ("fsync", str(target.parent))]
                assert any(renamed < i < written for i in synced), (layer, f.file)
    assert parquets == 4  # three raw files, one quarantine file
    last_record = max(
        index("rename", home / "manifest" / f"{f.file_hash}.json") for f in report.files
    )
    assert ("fsync", str(home / "manifest")) in events[last_record + 1 :]
