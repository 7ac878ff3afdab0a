"""The set-based ingest (one DuckDB scan per mapping, pipelines/ingest/setbased.py) writes
the same raw and quarantine Parquet as the per-file Python path, row by row.

Each test lands the same files in two homes and ingests one with ``set_based=False`` (every
file read by the Python readers: the reference) and one with ``set_based=True``; every
``raw/*/{sha}.parquet`` and ``quarantine/*/{sha}.parquet`` must hold the same rows (all
columns, lineage included; ``_ingested_at`` is the run's clock, so it is checked against
each home's own manifest instead), and the manifests the same counts, reasons, drift and
date notes. The manifest's ``read_by`` must say which path read each file — the tests also
assert that the set-based path really read the files it should (an equality of two Python
reads would prove nothing).
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from generator import generate
from pipelines.ingest import run_ingest
from pipelines.ingest.transform import null_token_sql

VOLATILE = ("ingested_at", "read_by", "read_by_why")


def land(home: Path, files: dict[str, Path | bytes]) -> None:
    for rel, src in files.items():
        target = home / "landing" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, bytes):
            target.write_bytes(src)
        else:
            shutil.copy2(src, target)


def ingest_both(root: Path, files: dict[str, Path | bytes]) -> tuple[Path, Path]:
    old, new = root / "per_file", root / "set_based"
    land(old, files)
    shutil.copytree(old / "landing", new / "landing")  # the same bytes and mtimes
    run_ingest(old, set_based=False)
    run_ingest(new, set_based=True)
    return old, new


def manifests(home: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((home / "manifest").glob("*.json"))}


def outputs(home: Path, kind: str) -> list[Path]:
    return sorted(p.relative_to(home) for p in (home / kind).rglob("[0-9a-f]*.parquet"))


def assert_same_output(old: Path, new: Path) -> None:
    """Every raw and quarantine file equal row by row; manifests equal but for the clock
    and the path that read the file."""
    m_old, m_new = manifests(old), manifests(new)
    assert m_old.keys() == m_new.keys()
    for name, rec in m_old.items():
        other = m_new[name]
        assert {k: v for k, v in rec.items() if k not in VOLATILE} == {
            k: v for k, v in other.items() if k not in VOLATILE
        }, name
        assert rec["read_by"] in ("python", "") and other["read_by"] in ("python", "duckdb", "")
    at = {
        home: {r["file_hash"]: datetime.fromisoformat(r["ingested_at"]) for r in ms.values()}
        for home, ms in ((old, m_old), (new, m_new))
    }
    for kind in ("raw", "quarantine"):
        assert outputs(old, kind) == outputs(new, kind)
        for rel in outputs(old, kind):
            a, b = pq.read_table(old / rel), pq.read_table(new / rel)
            assert a.schema == b.schema, rel
            for home, t in ((old, a), (new, b)):  # lineage: the file's own ingest time
                assert set(t["_ingested_at"].to_pylist()) == {at[home][rel.stem]}, rel
            a = a.drop_columns(["_ingested_at"]).sort_by("_source_row")
            b = b.drop_columns(["_ingested_at"]).sort_by("_source_row")
            assert a.num_rows == b.num_rows, rel
            for col in a.column_names:
                assert a[col].to_pylist() == b[col].to_pylist(), f"{rel}: {col}"


def read_by(home: Path) -> dict[str, str]:
    return {r["file"]: r["read_by"] for r in manifests(home).values()}


# ---------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def fixture_homes(shared_fixtures, tmp_path_factory):
    names = [
        "fivetran_dbt_hubspot/company_data.csv",
        "fivetran_dbt_hubspot/contact_data.csv",
        "fivetran_dbt_hubspot/deal_data.csv",
        "fivetran_dbt_salesforce/sf_lead_data.csv",
        "fivetran_dbt_ga4_export/event_data.csv",
        "fivetran_dbt_google_ads/campaign_stats_data.csv",
        "fivetran_dbt_tiktok_ads/tiktok_ad_report_hourly_data.csv",
        "maven_crm_sales_opportunities/accounts.csv",
        "maven_crm_sales_opportunities/sales_pipeline.csv",
    ]
    files: dict[str, Path | bytes] = {
        n: shared_fixtures / n for n in names if (shared_fixtures / n).exists()
    }
    assert len(files) >= 7, sorted(files)
    # a slice of the real Online Retail II Parquet (typed columns: Quantity int64, Price
    # double, Customer ID int64; ordinals per invoice and stock code)
    retail = shared_fixtures / "uci_online_retail_ii_2009_2010/online_retail_II_2009-2010.parquet"
    sink = pa.BufferOutputStream()
    pq.write_table(pq.ParquetFile(retail).read_row_group(0).slice(0, 20_000), sink)
    files["uci_online_retail_ii_2009_2010/online_retail_II_slice.parquet"] = (
        sink.getvalue().to_pybytes()
    )
    return ingest_both(tmp_path_factory.mktemp("set_fixtures"), files)


def test_real_exports_read_set_based_equal_the_per_file_path(fixture_homes):
    old, new = fixture_homes
    assert_same_output(old, new)
    by = read_by(new)
    for name in (
        "maven_crm_sales_opportunities/sales_pipeline.csv",  # CRLF, 8,800 deals
        "maven_crm_sales_opportunities/accounts.csv",
        "fivetran_dbt_hubspot/company_data.csv",
        "fivetran_dbt_ga4_export/event_data.csv",
        "uci_online_retail_ii_2009_2010/online_retail_II_slice.parquet",
    ):
        assert by[name] == "duckdb", name
    # an aggregated mapping (device rows summed to the day) stays with the Python path
    assert by["fivetran_dbt_google_ads/campaign_stats_data.csv"] == "python"
    for rec in manifests(old).values():  # "": rejected before any reader read rows
        assert rec["read_by"] == ("python" if rec["status"] == "loaded" else ""), rec
    raw = pq.read_table(new / "raw" / "opportunities").to_pandas()
    assert len(raw) >= 8_800


# ---------------------------------------------------------------------------- generator


@pytest.fixture(scope="module")
def generator_homes(tmp_path_factory):
    root = tmp_path_factory.mktemp("set_generator")
    generate(root / "demo", 0.01, 5)
    files = {
        p.relative_to(root / "demo").as_posix(): p
        for p in sorted((root / "demo" / "crm").rglob("*"))
        if p.is_file()
    }
    return ingest_both(root, files)


def test_generator_exports_read_set_based_equal_the_per_file_path(generator_homes):
    """HubSpot, Salesforce, Delighted and the Shopify order export (fill_down and ordinals
    as window functions; lines without a price quarantined with their filled records)."""
    old, new = generator_homes
    assert_same_output(old, new)
    by = read_by(new)
    shopify = [f for f in by if "shopify" in f]
    assert shopify and all(by[f] == "duckdb" for f in shopify)
    assert all(v == "duckdb" for f, v in by.items() if "hubspot" in f or "nps" in f)
    quarantined = pq.read_table(new / "quarantine" / "orders").to_pylist()
    assert quarantined, "the demo's Shopify export has lines without a price"
    for row in quarantined:  # the record holds the filled order-level cells
        record = json.loads(row["record"])
        assert record["Name"] and record["Created at"], record


# ---------------------------------------------------------------------------- shapes

HEADER = "Response ID,Person ID,Email,Name,Score,Comment,Created At,Survey,contact_id,customer_id"


def nps(rows: list[str], header: str = HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *rows]).encode() + newline.encode()


ROW = (
    "{id},91,a{id}@example.com,Ana,{score},{comment},2024-03-0{day}T10:00:00+01:00,NPS,c{id},k{id}"
)


def rows(start: int, n: int = 4, **kw) -> list[str]:
    out = []
    for i in range(start, start + n):
        values = {"id": i, "score": i % 11, "comment": "", "day": 1 + i % 9, **kw}
        out.append(ROW.format(**values))
    return out


SHAPES: dict[str, tuple[bytes, str]] = {
    # file: (content, the path that must read it)
    "plain.csv": (nps([*rows(100), ROW.format(id=104, score=11, comment="", day=2)]), "duckdb"),
    "bad_values.csv": (
        nps([*rows(110), "115,91,x@y.z,Bo,ten,,2024-13-45T99:00:00,NPS,c,k", "116,,,,,,,,,"]),
        "duckdb",
    ),
    "quoted_newline_crlf.csv": (
        nps(rows(120, comment='"first line\r\nsecond, with ""quotes"""'), newline="\r\n"),
        "duckdb",
    ),
    "bom.csv": (b"\xef\xbb\xbf" + nps(rows(130)), "duckdb"),
    "spaces_and_quotes.csv": (
        nps(rows(140, comment='"  padded  "') + ['145, 91 ,"",Ana, 7 ,"",2024-03-01,NPS,,']),
        "duckdb",
    ),
    "unicode.csv": (nps(rows(150, comment="Jonas López ☕ 日本")), "duckdb"),
    "hash_ids.csv": (
        nps([r.replace("160", "#160", 1) for r in rows(160, 1)] + rows(161)),
        "duckdb",
    ),
    "semicolon.csv": (
        nps([r.replace(",", ";") for r in rows(170)], header=HEADER.replace(",", ";")),
        "duckdb",
    ),
    "tabs.tsv": (
        nps([r.replace(",", "\t") for r in rows(180)], header=HEADER.replace(",", "\t")),
        "duckdb",
    ),
    "header_only.csv": (nps([]), "duckdb"),
    "footer.csv": (nps([*rows(200), "Total: 4,,,,,,,,,"]), "python"),
    # DuckDB drops these silently where Python's csv keeps them: found in the bytes
    "long_empty_line.csv": (nps([*rows(80_000, 2_100), "", *rows(81_000, 2)]), "python"),
    "quote_then_blank.csv": (
        nps([*rows(90_000, 3), '9,91,a@b.c,Ana,5,"late" ,2024-03-01,NPS,c,k']),
        "python",
    ),
    "blank_then_quote.csv": (
        nps([*rows(91_000, 3), '9,91,a@b.c,Ana,5, "early",2024-03-01,NPS,c,k']),
        "python",
    ),
    # past the rows the loader's probe parses: found by the scan's counting pass
    "long_footer.csv": (nps([*rows(10_000, 2_100), "Grand total,,,,,,,,,"]), "python"),
    "long_blank_row.csv": (nps([*rows(20_000, 2_100), " , ,,,,,,,,", *rows(30_000, 2)]), "python"),
    "long_comment_row.csv": (
        nps([*rows(40_000, 2_100), "# part 2,,,,,,,,,", *rows(50_000, 2)]),
        "python",
    ),
    "blank_row.csv": (nps([*rows(210, 2), ",,,,,,,,,", *rows(212, 2)]), "python"),
    "comment_row.csv": (
        nps([*rows(220, 2), "# exported by the survey tool", *rows(222)]),
        "python",
    ),
    "extra_cells.csv": (
        nps([*rows(230), "234,91,a@b.c,Ana,5,,2024-03-01,NPS,c,k,EXTRA"]),
        "python",
    ),
    "short_row.csv": (nps([*rows(240), "244,91,a@b.c"]), "python"),
    "long_short_row.csv": (nps([*rows(60_000, 2_100), "9,91,a@b.c", *rows(70_000, 2)]), "python"),
    "title_line.csv": (b"NPS export March 2024\n" + nps(rows(250)), "python"),
    "latin1.csv": (
        nps(rows(260, comment="Jonas L\xf3pez")).replace(b"\xc3\xb3", b"\xf3"),
        "python",
    ),
    "utf16.csv": (nps(rows(270)).decode().encode("utf-16"), "python"),
    "gzipped.csv.gz": (gzip.compress(nps(rows(280))), "python"),
    "glob [copy].csv": (nps(rows(290)), "python"),
}


@pytest.fixture(scope="module")
def shape_homes(tmp_path_factory):
    files = {f"crm/nps/{name}": content for name, (content, _) in SHAPES.items()}
    return ingest_both(tmp_path_factory.mktemp("set_shapes"), files)


def test_file_shapes_pick_their_path_and_equal_the_per_file_path(shape_homes):
    old, new = shape_homes
    assert_same_output(old, new)
    by = read_by(new)
    assert by == {f"crm/nps/{name}": path for name, (_, path) in SHAPES.items()}
    whys = {r["file"]: r["read_by_why"] for r in manifests(new).values()}
    assert "footer" in whys["crm/nps/footer.csv"]
    for name in ("long_empty_line.csv", "quote_then_blank.csv", "blank_then_quote.csv"):
        assert whys[f"crm/nps/{name}"] == "empty lines or blanks around a quoted cell", name
    for name in ("long_footer.csv", "long_blank_row.csv", "long_comment_row.csv"):
        assert whys[f"crm/nps/{name}"] == "blank, comment, footer or summary rows", name
    assert "encoding" in whys["crm/nps/utf16.csv"]
    assert whys["crm/nps/extra_cells.csv"] == "rows with more cells than the header"
    assert whys["crm/nps/long_short_row.csv"].startswith("DuckDB cannot read it")
    assert whys["crm/nps/plain.csv"] == ""
    for rec in manifests(new).values():  # nothing lost, whichever path read the file
        assert rec["status"] == "loaded", rec
        assert rec["rows_read"] == rec["rows_loaded"] + rec["rows_quarantined"]
    # the quarantined rows of a set-based file keep their reason and original cells
    q = pq.read_table(new / "quarantine" / "nps_responses").to_pylist()
    plain = [r for r in q if r["_source_file"] == "crm/nps/plain.csv"]
    assert [r["_source_row"] for r in plain] == [5]
    assert "out of range [0, 10] in score" in plain[0]["reason"]
    assert json.loads(plain[0]["record"])["Score"] == "11"
    bad = {r["_source_row"]: r for r in q if r["_source_file"] == "crm/nps/bad_values.csv"}
    assert "bad int 'ten' in score" in bad[5]["reason"]
    assert json.loads(bad[6]["record"]) == dict.fromkeys(HEADER.split(","), "") | {
        "Response ID": "116"
    }


def test_set_based_rerun_loads_nothing_again(shape_homes):
    """Exactly once per file: a second run over the same landing writes nothing."""
    _, new = shape_homes
    before = {p: p.stat().st_mtime_ns for p in (new / "raw").rglob("*.parquet")}
    report = run_ingest(new, set_based=True)
    assert report.files == [] and report.unchanged == len(SHAPES)
    assert {p: p.stat().st_mtime_ns for p in (new / "raw").rglob("*.parquet")} == before


# ---------------------------------------------------------------------------- Parquet


def retail(n: int, start: int, **extra) -> bytes:
    """An Online Retail II style Parquet (typed columns, as pandas writes the dataset)."""
    table = pa.table(
        {
            "Invoice": [f"{'C' if i % 7 == 0 else ''}{start + i // 3}" for i in range(n)],
            "StockCode": [f"S{i % 4}" for i in range(n)],  # repeats within an invoice
            "Description": [None if i % 5 == 0 else f"Item {i}" for i in range(n)],
            "Quantity": pa.array([(-1 if i % 7 == 0 else 1) * (i % 9) for i in range(n)]),
            "InvoiceDate": [f"2010-0{1 + i % 9}-1{i % 9} 0{i % 10}:15:00" for i in range(n)],
            "Price": pa.array([[2.95, 10.0, 0.85, 0.0, 1234.5][i % 5] for i in range(n)]),
            "Customer ID": pa.array([None if i % 6 == 0 else 13000.0 + i for i in range(n)]),
            "Country": ["United Kingdom"] * n,
            **extra,
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


PARQUET = {
    "orders/retail_a.parquet": (retail(300, 1000), "duckdb"),
    "orders/retail_b.parquet": (retail(90, 5000, Price=pa.array([9.5] * 90)), "duckdb"),
    # 1.25e10 prints as 1.25e+10 in Arrow: the check per file sends it to Python
    "orders/retail_exponent.parquet": (
        retail(30, 7000, Price=pa.array([1.25e10] + [1.0] * 29)),
        "python",
    ),
    "orders/retail_small_values.parquet": (  # -0.0 and 1.5e-7: Arrow writes -0 and 1.5e-7
        retail(30, 7500, Price=pa.array([-0.0, 1.5e-7] + [1.0] * 28)),
        "python",
    ),
    "orders/retail_timestamps.parquet": (
        retail(30, 8000, InvoiceDate=pa.array([datetime(2010, 1, 1, 8, i) for i in range(30)])),
        "python",
    ),
}


def test_parquet_read_set_based_equals_the_per_file_path(tmp_path, shared_fixtures):
    files = {name: content for name, (content, _) in PARQUET.items()}
    old, new = ingest_both(tmp_path, files)
    assert_same_output(old, new)
    assert read_by(new) == {name: path for name, (_, path) in PARQUET.items()}
    whys = {r["file"]: r["read_by_why"] for r in manifests(new).values()}
    assert "of type timestamp" in whys["orders/retail_timestamps.parquet"]
    raw = pq.read_table(new / "raw" / "orders").to_pylist()
    # ordinals per (Invoice, StockCode) in file order, as the Python path numbers them
    a = [r for r in raw if r["_source_file"] == "orders/retail_a.parquet"]
    assert {r["order_line_id"] for r in a if r["order_id"] == "1001"} == {"S3-1", "S0-1", "S1-1"}
    assert all(r["customer_id"] is None or "." not in r["customer_id"] for r in raw)


def test_null_tokens_compile_to_in_lists_without_a_join():
    tokens = ["", "-", "--", "N/A", "#N/A", "NULL", "None", "nan", "(not set)", "<Other>"]
    sql = null_token_sql("x", tokens)
    con = duckdb.connect()
    plan = con.sql(f"EXPLAIN SELECT {sql} FROM (SELECT 'a' AS x)").fetchall()[0][1]
    assert "JOIN" not in plan.upper() and " IN " in sql
    values = [*tokens, "a", "n/a", " -", "NaN", "(not set) "]
    got = con.sql(f"SELECT x, {sql} FROM unnest({[v for v in values]}::VARCHAR[]) t(x)").fetchall()
    assert dict(got) == {v: v in tokens for v in values}
