"""The k-means assets inside the real Dagster job (no mocks), on real exports.

Landing: the Maven CRM accounts and sales pipeline (every Maven account has won a deal, so
three accounts without any deal are added as a second accounts export: prospects) and the
UCI Online Retail II invoices of the first 400 customer ids. The job runs ingest → dbt →
account_clusters / customer_clusters → the dbt cluster marts → publish.
"""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from pipelines.automation.jobs import NO_CHECKS_JOB_NAME
from pipelines.core.settings import load_config
from pipelines.segments.config import cluster_spec
from pipelines.segments.kmeans import fit_clusters
from tests.pipeline.runner import materialized_keys, run_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("segments_job")]

MAVEN = "maven_crm_sales_opportunities"
UCI = "uci_online_retail_ii_2009_2010/online_retail_II_2009-2010.parquet"
PROSPECTS = pd.DataFrame(
    {
        "account": ["Northwind Prospect", "Initech Prospect", "Hooli Prospect"],
        "sector": ["software", "retail", "finance"],
        "year_established": [2001, 1987, 2010],
        "revenue": [12.5, 3400.0, 80.0],
        "employees": [40, 12000, 350],
        "office_location": ["Germany", "United States", "Japan"],
        "subsidiary_of": [None, None, None],
    }
)


@pytest.fixture(scope="module")
def job_run(tmp_path_factory, shared_fixtures):
    home = tmp_path_factory.mktemp("clusters_home")
    crm = home / "landing" / "crm"
    crm.mkdir(parents=True)
    for name in ("accounts.csv", "sales_pipeline.csv"):
        shutil.copy(shared_fixtures / MAVEN / name, crm / name)
    PROSPECTS.to_csv(crm / "prospect_accounts.csv", index=False)
    retail = pd.read_parquet(shared_fixtures / UCI)
    kept = sorted(retail["Customer ID"].dropna().unique())[:400]
    shop = home / "landing" / "shop"
    shop.mkdir(parents=True)
    retail[retail["Customer ID"].isin(kept)].to_parquet(shop / "online_retail_ii_sample.parquet")
    # without checks: the clusters, not the gates, are under test here (tests/quality)
    result = run_job(home, NO_CHECKS_JOB_NAME)
    return home, result


def _warehouse(home):
    return duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True)


def test_job_materialises_clusters_between_dbt_models(job_run):
    home, result = job_run
    assert result.success
    keys = materialized_keys(result)
    assert {
        "ml/account_clusters",
        "ml/account_cluster_profiles",
        "ml/customer_clusters",
        "ml/customer_cluster_profiles",
        "dim_account_clusters",
        "dim_customer_clusters",
        "dim_cluster_profiles",
    } <= keys
    # dbt → Python → dbt: the order of the materialisations in the run
    order = [
        e.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert order.index("dim_accounts") < order.index("ml/account_clusters")
    assert order.index("ml/account_clusters") < order.index("dim_account_clusters")
    # customers: the profile dim_customers is built on (dim_customers follows the CLV step)
    assert order.index("int_customers_profiled") < order.index("ml/customer_clusters")
    assert order.index("ml/customer_clusters") < order.index("dim_customer_clusters")


def test_every_account_and_customer_is_clustered_prospects_too(job_run):
    home, _ = job_run
    with _warehouse(home) as con:
        accounts = con.sql("select account_id, lifecycle_stage from marts.dim_accounts").df()
        customers = con.sql("select customer_key from marts.dim_customers").df()
        account_clusters = con.sql("select * from marts.dim_account_clusters").df()
        customer_clusters = con.sql("select * from marts.dim_customer_clusters").df()
    assert len(accounts) == 85 + len(PROSPECTS)
    assert sorted(account_clusters["account_id"]) == sorted(accounts["account_id"])
    assert sorted(customer_clusters["customer_key"]) == sorted(customers["customer_key"])
    prospects = account_clusters.set_index("account_id").loc[PROSPECTS["account"]]
    assert prospects["is_prospect"].all()
    assert prospects["cluster_id"].notna().all()
    for frame in (account_clusters, customer_clusters):
        sizes = frame.groupby("cluster_id").size()
        assert (frame["cluster_size"] == frame["cluster_id"].map(sizes)).all()
        assert list(sizes.index) == list(range(1, len(sizes) + 1))
        assert sizes.is_monotonic_decreasing  # ids by size, largest first
        assert frame["cluster_share"].groupby(frame["cluster_id"]).first().sum() == (
            pytest.approx(1.0)
        )


def test_warehouse_clusters_equal_a_fit_of_the_mart(job_run):
    """The job's assignments are the deterministic fit of the mart it read."""
    home, _ = job_run
    config = load_config(home)
    with _warehouse(home) as con:
        for entity, mart in (("accounts", "dim_accounts"), ("customers", "dim_customers")):
            spec = cluster_spec(config, entity)
            frame = con.sql(f"select * from marts.{mart}").df()
            table = entity.rstrip("s") + "_clusters"
            stored = con.sql(f"select * from ml.{table} order by 1").df()
            refit = fit_clusters(frame, spec).assignments
            assert stored[spec.key].tolist() == refit[spec.key].tolist()
            assert stored["cluster_id"].tolist() == refit["cluster_id"].tolist()
            assert stored["cluster_label"].tolist() == refit["cluster_label"].tolist()


def test_profile_mart_and_metadata(job_run):
    home, result = job_run
    with _warehouse(home) as con:
        profiles = con.sql("select * from marts.dim_cluster_profiles").df()
        assignments = con.sql("select * from marts.dim_account_clusters").df()
    accounts = profiles[profiles["entity_type"] == "account"]
    assert set(accounts["cluster_id"]) == set(assignments["cluster_id"])
    assert set(profiles["entity_type"]) == {"account", "customer"}
    materialisations = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    meta = materialisations["ml/account_clusters"]
    assert meta["dagster/row_count"].value == len(assignments)
    assert meta["k"].value == assignments["cluster_id"].nunique()
    assert -1.0 <= meta["silhouette"].value <= 1.0
    assert "cluster_label" in meta["profile"].value
    # published for BI with the other marts
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        published = con.execute("select count(*) from dim_account_clusters").fetchone()[0]
    assert published == len(assignments)
