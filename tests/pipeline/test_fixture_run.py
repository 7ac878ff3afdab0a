"""The real Dagster job on real exports nobody here wrote (../shared/fixtures)."""

from __future__ import annotations

import json
import shutil

import duckdb
import pandas as pd
import pytest

from tests.pipeline.runner import run_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fixture_run")]

FILES = [
    "maven_crm_sales_opportunities/accounts.csv",
    "maven_crm_sales_opportunities/sales_pipeline.csv",
    "uci_online_retail_ii_2009_2010/online_retail_II_2009-2010.parquet",
]


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory, shared_fixtures):
    home = tmp_path_factory.mktemp("fixture_home")
    for name in FILES:
        target = home / "landing" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_fixtures / name, target)
    result = run_job(home)
    return home, result


def test_fixture_run_succeeds(fixture_run):
    home, result = fixture_run
    assert result.success
    assert (home / "serving" / "marts.duckdb").exists()


def test_every_fixture_row_is_loaded_or_quarantined(fixture_run, shared_fixtures):
    home, _ = fixture_run
    manifests = {
        m["file"]: m
        for m in (json.loads(p.read_text()) for p in (home / "manifest").glob("*.json"))
    }
    expected_rows = {
        FILES[0]: len(pd.read_csv(shared_fixtures / FILES[0])),
        FILES[1]: len(pd.read_csv(shared_fixtures / FILES[1])),
        FILES[2]: len(pd.read_parquet(shared_fixtures / FILES[2])),
    }
    for name, rows in expected_rows.items():
        record = manifests[name]
        assert record["status"] == "loaded", record["reason"]
        assert record["rows_read"] == rows
        assert record["rows_loaded"] + record["rows_quarantined"] == rows


def test_marts_on_real_exports(fixture_run, shared_fixtures):
    home, _ = fixture_run
    accounts = pd.read_csv(shared_fixtures / FILES[0])
    retail = pd.read_parquet(shared_fixtures / FILES[2])
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        dim_accounts = con.execute("select * from dim_accounts").df()
        customers = con.execute("select count(*) from dim_customers").fetchone()[0]
    # every Maven account is an account; the misspelt sector is folded into the taxonomy
    assert set(accounts["account"]) <= set(dim_accounts["account_id"])
    tech = dim_accounts[
        dim_accounts["account_id"].isin(accounts.loc[accounts["sector"] == "technolgy", "account"])
    ]
    assert len(tech) == (accounts["sector"] == "technolgy").sum()
    assert set(tech["industry"]) == {"Technology"}
    # B2C customers: identified shoppers with at least one purchase order, i.e. a
    # non-cancelled invoice ('C' invoices are returns) whose net amount is positive
    purchases = retail[
        retail["Customer ID"].notna() & ~retail["Invoice"].astype(str).str.startswith("C")
    ].assign(net=lambda f: f["Quantity"] * f["Price"])
    per_invoice = purchases.groupby(["Customer ID", "Invoice"])["net"].sum()
    buyers = per_invoice[per_invoice > 0].reset_index()["Customer ID"].nunique()
    assert customers == buyers
