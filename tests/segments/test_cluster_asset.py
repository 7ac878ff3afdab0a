"""The cluster asset and its warehouse tables on a hand-built warehouse: real DuckDB, real
Dagster materialisation of the asset (not the whole job; that is test_cluster_job.py)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipelines.core.resources import SegmartHome
from pipelines.core.settings import load_config
from pipelines.segments.assets import build_cluster_asset
from pipelines.segments.config import cluster_spec
from pipelines.segments.kmeans import fit_clusters
from pipelines.segments.warehouse import MissingMartError, connect, read_features, write_tables
from tests.segments.real_features import maven_accounts


def _warehouse(home: Path, accounts: pd.DataFrame | None) -> Path:
    path = home / "warehouse" / "segmart.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        if accounts is not None:
            con.register("accounts_frame", accounts)
            con.execute(
                "create or replace table marts.dim_accounts as select * from accounts_frame"
            )
    return path


def _dim_accounts(fixtures: Path) -> pd.DataFrame:
    """Maven accounts with the columns of the shipped `clusters.accounts` features."""
    maven = maven_accounts(fixtures)
    return pd.DataFrame(
        {
            "account_id": maven["account_id"],
            "employees": maven["employees"].astype("int64"),
            "annual_revenue_rc": maven["revenue_musd"] * 1e6,
            "trailing_12m_revenue_rc": maven["won_amount"],
            "opportunities": maven["deals"].astype("int64"),
            "contacts": 0,  # constant: left out of the fit
            "propensity_score": 0.6 + maven["year_established"] / 1e5,
            "sophistication_points": pd.Series([None] * len(maven), dtype="Int64"),
        }
    )


def _materialise(home: Path):
    result = dg.materialize(
        [build_cluster_asset("accounts")],
        resources={"segmart": SegmartHome(home=str(home))},
        raise_on_error=False,
    )
    metadata = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    return result, metadata


def test_asset_writes_tables_equal_to_the_fit_and_reruns_identically(tmp_path, shared_fixtures):
    accounts = _dim_accounts(shared_fixtures)
    path = _warehouse(tmp_path, accounts)
    result, metadata = _materialise(tmp_path)
    assert result.success
    with duckdb.connect(str(path), read_only=True) as con:
        first = con.execute("select * from ml.account_clusters order by account_id").df()
        profile = con.execute("select * from ml.account_cluster_profiles").df()
    expected = fit_clusters(accounts, cluster_spec(load_config(tmp_path), "accounts"))
    assert first["cluster_id"].tolist() == expected.assignments["cluster_id"].tolist()
    assert len(profile) == expected.k * len(cluster_spec(load_config(), "accounts").features)
    meta = metadata["ml/account_clusters"]
    assert meta["dagster/row_count"].value == len(accounts)
    assert meta["k"].value == expected.k
    assert meta["silhouette"].value == pytest.approx(expected.silhouette)
    assert meta["dropped_features"].value == {
        "contacts": "constant",
        "sophistication_points": "all null",
    }
    assert metadata["ml/account_cluster_profiles"]["dagster/row_count"].value == len(profile)
    # a second run replaces the tables with the same content
    assert _materialise(tmp_path)[0].success
    with duckdb.connect(str(path), read_only=True) as con:
        second = con.execute("select * from ml.account_clusters order by account_id").df()
    pd.testing.assert_frame_equal(first, second)


def test_empty_mart_is_skipped_with_clear_metadata_and_empty_tables(tmp_path, shared_fixtures):
    path = _warehouse(tmp_path, _dim_accounts(shared_fixtures).head(0))
    result, metadata = _materialise(tmp_path)
    assert result.success
    assert metadata["ml/account_clusters"]["note"].value == "skipped: no rows"
    assert metadata["ml/account_clusters"]["dagster/row_count"].value == 0
    with duckdb.connect(str(path), read_only=True) as con:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'ml' and table_name = 'account_clusters'"
            ).fetchall()
        )
        rows = con.execute("select count(*) from ml.account_cluster_profiles").fetchone()[0]
    assert types == {"account_id": "VARCHAR", "cluster_id": "INTEGER", "cluster_label": "VARCHAR"}
    assert rows == 0


def test_missing_mart_fails_the_asset_with_a_clear_error(tmp_path):
    path = _warehouse(tmp_path, None)
    spec = cluster_spec(load_config(), "accounts")
    with connect(path) as con, pytest.raises(MissingMartError, match="build the dbt models"):
        read_features(con, spec)
    result, _ = _materialise(tmp_path)
    assert not result.success


def test_write_tables_is_atomic_on_error(tmp_path, shared_fixtures):
    accounts = _dim_accounts(shared_fixtures)
    path = _warehouse(tmp_path, accounts)
    fit = fit_clusters(accounts, cluster_spec(load_config(), "accounts"))
    with connect(path) as con:
        write_tables(con, "accounts", fit.assignments, fit.profile)
        broken = fit.profile.drop(columns=["feature_z"])
        with pytest.raises(duckdb.Error):
            write_tables(con, "accounts", fit.assignments.head(3), broken)
        kept = con.execute("select count(*) from ml.account_clusters").fetchone()[0]
    assert kept == len(accounts)  # the failed write left the previous tables in place
