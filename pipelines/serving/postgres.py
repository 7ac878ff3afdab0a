"""Load the published marts into PostgreSQL, with their comments, in one transaction.

Reads ``{home}/serving/marts.duckdb`` (only data that passed the checks and was published:
views over the published Parquet files),
streams each table with ``COPY ... FROM STDIN`` and replaces the PostgreSQL tables inside a
single transaction: BI sessions see the previous tables until the commit, then the new ones.
(DuckDB's postgres extension cannot be downloaded here, hence psycopg.)
"""

from __future__ import annotations

import json
import os
import re

import duckdb
import psycopg
from psycopg import sql

from pipelines.core.settings import home_paths
from pipelines.serving.publish import SERVING_DB, SERVING_SCHEMA

BATCH_ROWS = 10_000
_SIMPLE = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39,0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "BLOB": "bytea",
}


def pg_type(duckdb_type: str) -> str:
    """PostgreSQL type for a DuckDB column type; nested types travel as jsonb."""
    t = duckdb_type.upper()
    if t in _SIMPLE:
        return _SIMPLE[t]
    if m := re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t):
        return f"numeric({m[1]},{m[2]})"
    if t.startswith(("STRUCT", "MAP")) or t.endswith("]"):
        return "jsonb"
    return "text"


def _value(v, is_json: bool):
    return json.dumps(v, default=str) if is_json and v is not None else v


def publish_postgres(
    home: str | os.PathLike, dsn: str, *, schema: str = "marts", marts: list[str] | None = None
) -> dict[str, int]:
    """Replace ``schema.<mart>`` in PostgreSQL with the serving copy; returns rows per mart."""
    database = home_paths(home).serving / SERVING_DB
    if not database.exists():
        raise FileNotFoundError(f"nothing published yet: {database} does not exist")
    duck = duckdb.connect(str(database), read_only=True)
    counts: dict[str, int] = {}
    try:
        # the marts are views over their Parquet files (a copy published before that
        # layout holds tables): both are read the same way
        tables = duck.execute(
            "select view_name, comment from duckdb_views() where not internal "
            "and schema_name = $schema union all "
            "select table_name, comment from duckdb_tables() where schema_name = $schema "
            "order by 1",
            {"schema": SERVING_SCHEMA},
        ).fetchall()
        if marts is not None:
            tables = [t for t in tables if t[0] in set(marts)]
        with psycopg.connect(dsn) as pg, pg.transaction():
            pg.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            for table, comment in tables:
                counts[table] = _load_table(duck, pg, schema, table, comment)
    finally:
        duck.close()
    return counts


def _load_table(duck, pg, schema: str, table: str, comment: str | None) -> int:
    columns = duck.execute(
        "select column_name, data_type, comment from duckdb_columns() "
        "where schema_name = ? and table_name = ? order by column_index",
        [SERVING_SCHEMA, table],
    ).fetchall()
    target = sql.Identifier(schema, table)
    pg.execute(sql.SQL("drop table if exists {}").format(target))
    pg.execute(
        sql.SQL("create table {} ({})").format(
            target,
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type(typ)))
                for name, typ, _ in columns
            ),
        )
    )
    if comment:
        pg.execute(sql.SQL("comment on table {} is {}").format(target, sql.Literal(comment)))
    for name, _, col_comment in columns:
        if col_comment:
            pg.execute(
                sql.SQL("comment on column {}.{} is {}").format(
                    target, sql.Identifier(name), sql.Literal(col_comment)
                )
            )
    is_json = [pg_type(typ) == "jsonb" for _, typ, _ in columns]
    names = sql.SQL(", ").join(sql.Identifier(name) for name, _, _ in columns)
    result = duck.execute(f'select * from {SERVING_SCHEMA}."{table.replace(chr(34), 2 * chr(34))}"')
    rows = 0
    copy_sql = sql.SQL("copy {} ({}) from stdin").format(target, names)
    with pg.cursor() as cur, cur.copy(copy_sql) as copy:
        while batch := result.fetchmany(BATCH_ROWS):
            for row in batch:
                copy.write_row([_value(v, j) for v, j in zip(row, is_json, strict=True)])
            rows += len(batch)
    return rows
