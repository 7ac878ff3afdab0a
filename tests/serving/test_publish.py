"""Write-audit-publish: an atomic serving copy that old DuckDB versions and readers can use."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

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
            "select comment from duckdb_views() where view_name = 'dim_customers'"
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


def _view_files(con) -> dict[str, str]:
    """{view: the Parquet file its definition reads}."""
    out = {}
    views = con.execute("select view_name, sql from duckdb_views() where not internal")
    for name, sql in views.fetchall():
        (path,) = re.findall(r"read_parquet\('([^']+)'\)", sql)
        out[name] = path
    return out


def test_each_mart_is_written_once_the_database_holds_views_over_it(tmp_path):
    write_marts(tmp_path, version=1)
    report = publish(tmp_path, MARTS, run_id="run1")

    serving = tmp_path / "serving"
    con = duckdb.connect(str(serving / "marts.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from duckdb_tables()").fetchone() == (0,)
        files = _view_files(con)
    finally:
        con.close()
    assert sorted(files) == MARTS
    for mart, path in files.items():
        data = Path(path)
        assert data.parent == serving / "versions" / report.version
        served = serving / "parquet" / f"{mart}.parquet"
        # one file, two names: the rows were written once
        assert served.stat().st_ino == data.stat().st_ino
        assert data.stat().st_nlink == 2
    assert (serving / "marts.duckdb").stat().st_size < 2**20  # a catalog, no data


def test_types_parquet_cannot_hold_are_cast_back_to_the_models_types(tmp_path):
    write_marts(tmp_path, version=1)
    con = duckdb.connect(str(tmp_path / "warehouse" / "segmart.duckdb"))
    try:
        con.execute(
            "create table marts.kpi_types as select channel, sum(impressions) as impressions, "
            "count(*)::utinyint as months, max(spend)::decimal(18, 2) as top_spend "
            "from marts.kpi_channel_monthly group by channel"
        )
        expected = con.execute("select * from marts.kpi_types order by channel").fetchall()
        types = con.execute("describe marts.kpi_types").fetchall()
    finally:
        con.close()
    assert dict((r[0], r[1]) for r in types)["impressions"] == "HUGEINT"

    publish(tmp_path, [*MARTS, "kpi_types"])

    con = duckdb.connect(str(tmp_path / "serving" / "marts.duckdb"), read_only=True)
    try:
        assert con.execute("describe kpi_types").fetchall() == types
        assert con.execute("select * from kpi_types order by channel").fetchall() == expected
    finally:
        con.close()


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select distinct version from dim_customers").fetchone()[0], flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


def test_old_versions_go_unless_published_just_before_or_held_open_by_a_reader(tmp_path):
    versions = tmp_path / "serving" / "versions"
    db = tmp_path / "serving" / "marts.duckdb"
    write_marts(tmp_path, version=1)
    first = publish(tmp_path, MARTS)
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert reader.stdout.readline().strip() == b"1"  # it has version 1 open
        reports = []
        for version in (2, 3, 4):
            write_marts(tmp_path, version=version)
            reports.append(publish(tmp_path, MARTS))
        # kept: the new one, the one before it, and the one a reader holds; 2 is gone
        kept = [first.version, reports[1].version, reports[2].version]
        assert sorted(p.name for p in versions.iterdir()) == sorted(kept)
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)
    write_marts(tmp_path, version=5)
    last = publish(tmp_path, MARTS)
    assert sorted(p.name for p in versions.iterdir()) == sorted([reports[2].version, last.version])
    manifest = json.loads((tmp_path / "serving" / "_published.json").read_text())
    assert manifest["version"] == last.version
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select distinct version from dim_customers").fetchall() == [(5,)]
    finally:
        con.close()


def test_failed_publish_leaves_no_version_folder(tmp_path):
    write_marts(tmp_path, version=1)
    first = publish(tmp_path, MARTS)
    write_marts(tmp_path, version=2)
    with pytest.raises(PublishError, match="missing"):
        publish(tmp_path, [*MARTS, "dim_accounts"])
    versions = tmp_path / "serving" / "versions"
    assert [p.name for p in versions.iterdir()] == [first.version]


KILLABLE = """
import sys
from pipelines.serving import publish
publish(sys.argv[1], ["dim_customers", "kpi_channel_monthly"])
"""


def test_killed_between_the_swaps_the_new_file_reads_and_the_next_publish_finishes(tmp_path):
    write_marts(tmp_path, version=1)
    first = publish(tmp_path, MARTS)
    write_marts(tmp_path, version=2)
    paused = tmp_path / "state" / "fault-publish.mid_swap.paused"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, str(tmp_path)],
        env={**os.environ, "SEGMART_FAULT_PAUSE": "publish.mid_swap"},
    )
    try:
        deadline = time.monotonic() + 120
        while not paused.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert paused.exists()
    finally:
        proc.kill()
        proc.wait()
    serving = tmp_path / "serving"
    links = list((serving / "parquet").glob(".*.parquet"))
    assert len(links) == len(MARTS)  # the Parquet swap was cut
    con = duckdb.connect(str(serving / "marts.duckdb"), read_only=True)
    try:  # the new catalog is complete: its views read the new version
        (interrupted,) = {Path(f).parent.name for f in _view_files(con).values()}
        assert con.execute("select distinct version from dim_customers").fetchall() == [(2,)]
        assert con.execute("select distinct version from kpi_channel_monthly").fetchall() == [(2,)]
    finally:
        con.close()

    write_marts(tmp_path, version=3)
    last = publish(tmp_path, MARTS)

    assert not [p for p in serving.rglob(".*") if p.is_file()]
    manifest = json.loads((serving / "_published.json").read_text())
    assert manifest["version"] == last.version
    for mart in MARTS:
        served = serving / "parquet" / f"{mart}.parquet"
        assert (
            served.stat().st_ino
            == (serving / "versions" / last.version / served.name).stat().st_ino
        )
    # the interrupted publish's version was live (its catalog swapped in): it is the one kept
    # as published just before; the first one goes
    versions = {p.name for p in (serving / "versions").iterdir()}
    assert versions == {interrupted, last.version}
    assert first.version not in versions


def test_a_mart_whose_content_did_not_change_is_not_written_again(tmp_path):
    serving = tmp_path / "serving"
    write_marts(tmp_path, version=1, r_score=3)
    first = publish(tmp_path, MARTS)
    assert not any(m.reused for m in first.marts)
    # only dim_customers changes (r_score); kpi_channel_monthly's rows are the same
    write_marts(tmp_path, version=1, r_score=4)
    second = publish(tmp_path, MARTS)
    assert {m.name: m.reused for m in second.marts} == {
        "dim_customers": False,
        "kpi_channel_monthly": True,
    }

    def inode(report, mart):
        return (serving / "versions" / report.version / f"{mart}.parquet").stat().st_ino

    assert inode(second, "kpi_channel_monthly") == inode(first, "kpi_channel_monthly")
    assert inode(second, "dim_customers") != inode(first, "dim_customers")
    # nothing changed: every mart is the previous file; the first version folder is pruned,
    # the files it shared stay readable through the newer folders' links
    third = publish(tmp_path, MARTS)
    assert all(m.reused for m in third.marts)
    assert not (serving / "versions" / first.version).exists()
    manifest = json.loads((serving / "_published.json").read_text())
    wh = duckdb.connect(str(tmp_path / "warehouse" / "segmart.duckdb"), read_only=True)
    con = duckdb.connect(str(serving / "marts.duckdb"), read_only=True)
    try:
        for mart in MARTS:
            expected = wh.execute(f"select * from marts.{mart} order by all").fetch_df()
            served = con.execute(f"select * from {mart} order by all").fetch_df()
            pd.testing.assert_frame_equal(served, expected)
        assert con.execute("select distinct r_score from dim_customers").fetchall() == [(4,)]
    finally:
        con.close()
        wh.close()
    for entry in manifest["marts"]:
        assert entry["parquet_sha256"] == _sha(serving / "parquet" / f"{entry['name']}.parquet")
