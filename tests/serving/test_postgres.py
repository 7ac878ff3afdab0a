"""publish_postgres loads the serving marts with comments in one transaction.

Needs the local server of ``scripts/ci_services.sh`` (env ``SEGMART_PG_DSN``); skipped with
the reason otherwise. Each test gets a throw-away database.
"""

from __future__ import annotations

import os
import uuid

import duckdb
import pandas as pd
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pipelines.serving import publish
from pipelines.serving.postgres import publish_postgres
from serving.warehouse import write_marts

pytestmark = pytest.mark.postgres
MARTS = ["dim_customers", "kpi_channel_monthly"]


@pytest.fixture
def pg_dsn():
    dsn = os.environ.get("SEGMART_PG_DSN")
    if not dsn:
        pytest.skip('SEGMART_PG_DSN is not set (run: eval "$(bash scripts/ci_services.sh)")')
    try:
        with psycopg.connect(dsn, connect_timeout=3) as con:
            con.execute("select 1")
    except psycopg.Error as exc:
        pytest.skip(f"no PostgreSQL server answers at SEGMART_PG_DSN: {exc}")
    name = f"segmart_serving_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(dsn, dbname=name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def test_marts_land_in_postgres_with_comments(tmp_path, pg_dsn):
    write_marts(tmp_path, version=1)
    publish(tmp_path, MARTS)
    counts = publish_postgres(tmp_path, pg_dsn)

    duck = duckdb.connect(str(tmp_path / "serving" / "marts.duckdb"), read_only=True)
    with psycopg.connect(pg_dsn) as pg:
        for mart in MARTS:
            expected = duck.execute(f"select * from {mart} order by all").fetch_df()
            cur = pg.execute(f"select * from marts.{mart} order by 1, 2, 3")
            loaded = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
            loaded = loaded[expected.columns].sort_values(list(expected.columns))
            expected = expected.sort_values(list(expected.columns))
            assert counts[mart] == len(expected)
            for column in expected.columns:
                assert (
                    loaded[column].astype(str).tolist() == expected[column].astype(str).tolist()
                ), column
        (comment,) = pg.execute(
            "select col_description('marts.dim_customers'::regclass, attnum) from pg_attribute "
            "where attrelid = 'marts.dim_customers'::regclass and attname = 'r_score'"
        ).fetchone()
        assert comment == "Recency quintile, 5 = most recent."
        (table_comment,) = pg.execute(
            "select obj_description('marts.dim_customers'::regclass)"
        ).fetchone()
        assert table_comment == "One row per B2C customer."
    duck.close()


def test_failed_load_rolls_back_to_the_previous_tables(tmp_path, pg_dsn, monkeypatch):
    write_marts(tmp_path, version=1)
    publish(tmp_path, MARTS)
    publish_postgres(tmp_path, pg_dsn)
    write_marts(tmp_path, version=2)
    publish(tmp_path, MARTS)

    import pipelines.serving.postgres as pgmod

    original = pgmod._load_table

    def fail_on_second(duck, pg, schema, table, comment):
        if table == "kpi_channel_monthly":
            raise RuntimeError("connection lost mid-load")
        return original(duck, pg, schema, table, comment)

    monkeypatch.setattr(pgmod, "_load_table", fail_on_second)
    with pytest.raises(RuntimeError, match="mid-load"):
        publish_postgres(tmp_path, pg_dsn)

    with psycopg.connect(pg_dsn) as pg:
        versions = pg.execute("select distinct version from marts.dim_customers").fetchall()
    assert versions == [(1,)]  # the first table's reload was rolled back with the rest
