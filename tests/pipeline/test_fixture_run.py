"""The real Dagster job on real exports nobody here wrote (../shared/fixtures)."""

from __future__ import annotations

import json
import shutil

import duckdb
import pandas as pd
import pytest

from pipelines.reporting.summary import summarise
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


# ------------------------------------------------ B2B links and new accounts (issue 18.3, 18.4)


def test_maven_deals_without_account_are_unknown_and_new_accounts_agree(
    fixture_run, shared_fixtures
):
    """Maven: 1,425 deals name no account, 500 have no engage_date. The deals without
    account are motion unknown (never b2c by default); the accounts with a won deal are
    kpi_b2b_monthly.new_accounts, dim_accounts.first_won_at and the headline alike."""
    home, _ = fixture_run
    pipeline = pd.read_csv(shared_fixtures / FILES[1])
    no_account = set(pipeline.loc[pipeline["account"].isna(), "opportunity_id"])
    no_engage = set(pipeline.loc[pipeline["engage_date"].isna(), "opportunity_id"])
    assert (len(no_account), len(no_engage)) == (1425, 500)
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        deals = con.execute("select * from fct_opportunities").df().set_index("opportunity_id")
        kpi = con.execute("select month_start, new_accounts from kpi_b2b_monthly").df()
        dim = con.execute("select account_id, first_won_at from dim_accounts").df()
    assert deals.loc[sorted(no_account), "motion"].eq("unknown").all()
    # no lead names these deals: no create date to take, and none is invented
    assert deals.loc[sorted(no_engage), "created_at"].isna().all()
    assert not deals["is_created_at_from_lead"].any()

    won = pipeline[(pipeline["deal_stage"] == "Won") & pipeline["account"].notna()]
    first_won = pd.to_datetime(won.groupby("account")["close_date"].min())
    expected = first_won.dt.to_period("M").dt.to_timestamp().value_counts().sort_index()
    got = kpi.assign(month_start=pd.to_datetime(kpi["month_start"])).set_index("month_start")
    got = got.loc[got["new_accounts"] > 0, "new_accounts"].sort_index()
    pd.testing.assert_series_equal(got, expected, check_names=False, check_dtype=False)
    dim_first = dim.dropna(subset=["first_won_at"]).set_index("account_id")["first_won_at"]
    pd.testing.assert_series_equal(
        pd.to_datetime(dim_first).sort_index(), first_won.sort_index(), check_names=False
    )
    headline = next(line for line in summarise(home).splitlines() if "New B2B accounts" in line)
    assert headline.split()[-1] == f"{len(first_won):,}"
