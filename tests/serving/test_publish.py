"""Write-audit-publish: an atomic serving copy that old DuckDB versions and readers can use."""

from __future__ import annotations

import hashlib
import json

import duckdb
import pandas as pd
import pytest

from pipelines.serving import PublishError, publish
from serving.warehouse import write_marts

MARTS = ["dim_customers", "kpi_channel_monthly"]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_copies_marts_with_comments_parquet_and_manifest(tmp_path):
    write_marts(tmp_path, version=1)
    report = publish(tmp_path, MARTS, run_id="run1")

    serving = tmp_path / "serving"
    db = serving / "marts.duckdb"
    assert report.database == str(db) and report.storage_version == "v1.0.0"
    wh = duckdb.connect(str(tmp_path / "warehouse" / "segmart.duckdb"), read_only=True)
    con = duckdb.connect(str(db), read_only=True)
    try:
        for mart in MARTS:
            expected = wh.execute(f"select * from marts.{mart} order by all").fetch_df()
            copied = con.execute(f"select * from {mart} order by all").fetch_df()
            pd.testing.assert_frame_equal(copied, expected)
            parquet = con.execute(
                f"select * from read_parquet('{serving / 'parquet' / mart}.parquet') order by all"
            ).fetch_df()
            pd.testing.assert_frame_equal(parquet, expected)
            assert report.rows[mart] == len(expected)
        comments = dict(
            con.execute(
                "select table_name || '.' || column_name, comment from duckdb_columns() "
                "where comment is not null"
            ).fetchall()
        )
        assert comments == {
            "dim_customers.r_score": "Recency quintile, 5 = most recent.",
            "kpi_channel_monthly.cac": "Spend / new customers.",
        }
        (table_comment,) = con.execute(
            "select comment from duckdb_tables() where table_name = 'dim_customers'"
        ).fetchone()
        assert table_comment == "One row per B2C customer."
        (tags,) = con.execute(
            "select tags from duckdb_databases() where database_name = 'marts'"
        ).fetchone()
        assert tags["storage_version"].startswith("v1.0.0")
    finally:
        con.close()
        wh.close()
    manifest = json.loads((serving / "_published.json").read_text())
    assert manifest["run_id"] == "run1"
    assert manifest["database_sha256"] == _sha(db)
    for entry in manifest["marts"]:
        assert entry["parquet_sha256"] == _sha(serving / "parquet" / f"{entry['name']}.parquet")
    leftovers = [p.name for p in serving.rglob(".*") if p.is_file()]
    assert leftovers == []


def test_failed_publish_leaves_previous_copy_byte_identical(tmp_path):
    write_marts(tmp_path, version=1)
    publish(tmp_path, MARTS)
    serving = tmp_path / "serving"
    before = {p.name: _sha(p) for p in serving.rglob("*") if p.is_file()}

    write_marts(tmp_path, version=2)
    with pytest.raises(PublishError, match="missing"):
        publish(tmp_path, [*MARTS, "dim_accounts"])

    after = {p.name: _sha(p) for p in serving.rglob("*") if p.is_file()}
    assert after == before


def test_serving_file_uses_configured_storage_version(tmp_path):
    (tmp_path / "segmart.yaml").write_text("serving:\n  storage_version: v1.2.0\n")
    write_marts(tmp_path, version=1)
    report = publish(tmp_path, MARTS)
    con = duckdb.connect()
    try:
        con.execute(f"attach '{report.database}' as s (read_only)")
        (tags,) = con.execute(
            "select tags from duckdb_databases() where database_name = 's'"
        ).fetchone()
    finally:
        con.close()
    assert report.storage_version == "v1.2.0"
    assert tags["storage_version"].startswith("v1.2.0")
