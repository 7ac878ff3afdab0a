"""Fixtures for the operations tests: a throw-away PostgreSQL database and a Dagster home
configured with the documented production instance (docs/dagster.postgres.yaml)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pipelines.automation.instance import prepare_dagster_home

INSTANCE_YAML = Path(__file__).resolve().parents[2] / "docs" / "dagster.postgres.yaml"


def _server_dsn() -> str:
    dsn = os.environ.get("SEGMART_PG_DSN")
    if not dsn:
        pytest.skip('SEGMART_PG_DSN is not set (run: eval "$(bash scripts/ci_services.sh)")')
    try:
        with psycopg.connect(dsn, connect_timeout=3) as con:
            con.execute("select 1")
    except psycopg.Error as exc:
        pytest.skip(f"no PostgreSQL server answers at SEGMART_PG_DSN={dsn}: {exc}".strip())
    return dsn


@pytest.fixture
def pg_database() -> str:
    """A fresh database on the CI server; yields its DSN and drops it afterwards."""
    dsn = _server_dsn()
    name = f"segmart_dagster_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(dsn, dbname=name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_dagster_home(pg_database, tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME holding the documented dagster.yaml, its env vars pointing at pg_database.

    The variables are set in ``os.environ`` (undone after the test), so subprocesses see them.
    """
    parts = conninfo_to_dict(pg_database)
    monkeypatch.setenv("SEGMART_DAGSTER_PG_HOST", str(parts.get("host", "127.0.0.1")))
    monkeypatch.setenv("SEGMART_DAGSTER_PG_PORT", str(parts.get("port", 5432)))
    monkeypatch.setenv("SEGMART_DAGSTER_PG_DB", str(parts["dbname"]))
    monkeypatch.setenv("SEGMART_DAGSTER_PG_USER", str(parts["user"]))
    monkeypatch.setenv("SEGMART_DAGSTER_PG_PASSWORD", str(parts.get("password", "")))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # create the storage schema once, here: two processes creating it at the same moment on a
    # fresh database race (one aborts with InFailedSqlTransaction)
    # the documented set-up: storage created and `dagster instance concurrency set
    # duckdb_warehouse 1` once, before two runs start together
    return prepare_dagster_home(home)
