"""The real Dagster job on real exports nobody here wrote (../shared/fixtures)."""

from __future__ import annotations

import json
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.core.settings import DBT_PROJECT_DIR
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


# ------------------------------------------------ returns (issue 18.2), RFM (issue 18.5)


def _marts(home, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def retail_usd(shared_fixtures) -> pd.DataFrame:
    """Online Retail II lines in USD, computed from the file alone: amount = Quantity ×
    Price in GBP; InvoiceDate is London time, months and FX days are UTC; FX = the latest
    row of the shipped seed on or before the day (GBP→USD, the reporting currency)."""
    retail = pd.read_parquet(shared_fixtures / FILES[2])
    at = (
        pd.to_datetime(retail["InvoiceDate"])
        .dt.tz_localize("Europe/London")
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
    )
    seed = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "fx_rates.csv", parse_dates=["rate_date"])
    gbp = seed[seed["currency"] == "GBP"].sort_values("rate_date")
    usd = seed[seed["currency"] == "USD"].set_index("rate_date")["rate_to_usd"]
    assert usd.empty or (usd == 1.0).all()
    lines = pd.DataFrame(
        {
            "invoice": retail["Invoice"].astype(str),
            "customer_id": retail["Customer ID"].astype("Int64").astype(str).replace("<NA>", None),
            "day": at.dt.normalize(),
            "month": at.dt.to_period("M").dt.to_timestamp(),
            "gbp": retail["Quantity"].astype(float) * retail["Price"],
        }
    ).sort_values("day")
    lines = pd.merge_asof(
        lines, gbp[["rate_date", "rate_to_usd"]], left_on="day", right_on="rate_date"
    )
    lines["usd"] = lines["gbp"] * lines["rate_to_usd"]
    lines["gross"] = lines["usd"].clip(lower=0)
    lines["returned"] = -lines["usd"].clip(upper=0)
    return lines


def test_credit_notes_are_returns_in_b2c_kpis(fixture_run, retail_usd):
    """`C` invoices are credit notes: through the shipped mapping they are returns that net
    against revenue (kpi_b2c_monthly.returns_amount per month, net = purchases − returns,
    equal to fct_orders), not cancellations that count nowhere."""
    home, _ = fixture_run
    kpi = _marts(
        home,
        "select month_start, gross_sales, returns_amount, net_revenue, return_rate "
        "from kpi_b2c_monthly order by month_start",
    ).set_index("month_start")
    kpi.index = pd.to_datetime(kpi.index)
    wanted = retail_usd.groupby("month")[["gross", "returned", "usd"]].sum()
    got = kpi.loc[wanted.index]
    np.testing.assert_allclose(got["gross_sales"], wanted["gross"], rtol=1e-9)
    np.testing.assert_allclose(got["returns_amount"], wanted["returned"], rtol=1e-9)
    np.testing.assert_allclose(got["net_revenue"], wanted["usd"], rtol=1e-9)
    np.testing.assert_allclose(got["return_rate"], wanted["returned"] / wanted["gross"])
    assert (got["return_rate"] > 0).all()
    # months of the spine without orders hold no money
    assert (kpi.drop(wanted.index)[["gross_sales", "returns_amount"]] == 0).all().all()
    orders = _marts(
        home,
        "select count(*) filter (where is_cancelled) as cancelled, "
        "count(*) filter (where is_return_order) as return_orders, "
        "sum(net_revenue) as net_revenue from fct_orders",
    ).iloc[0]
    credit_notes = retail_usd.loc[retail_usd["invoice"].str.startswith("C"), "invoice"]
    assert orders["cancelled"] == 0
    assert orders["return_orders"] == credit_notes.nunique()
    assert kpi["net_revenue"].sum() == pytest.approx(orders["net_revenue"], rel=1e-12)
    assert kpi["net_revenue"].sum() == pytest.approx(
        wanted["gross"].sum() - wanted["returned"].sum(), rel=1e-9
    )


def test_customer_return_rate_counts_credit_notes(fixture_run, retail_usd):
    """dim_customers.return_rate = the customer's returned amount / gross sales (USD)."""
    home, _ = fixture_run
    actual = _marts(home, "select customer_id, return_rate from dim_customers").set_index(
        "customer_id"
    )["return_rate"]
    known = retail_usd[retail_usd["customer_id"].notna()]
    per_customer = known.groupby("customer_id")[["gross", "returned"]].sum()
    wanted = (per_customer["returned"] / per_customer["gross"]).fillna(0.0)
    wanted = wanted.loc[actual.index]
    np.testing.assert_allclose(actual.sort_index(), wanted.sort_index(), rtol=1e-9, atol=1e-12)
    assert (actual > 0).sum() == (wanted > 0).sum() > 1000


def _active_rfm_segments() -> set[str]:
    """Named segments a recent buyer can be in: those the seed maps from r_score >= 3."""
    seed = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "rfm_segment_map.csv")
    active = set(seed.loc[seed["r_score"] >= 3, "rfm_segment"])
    assert not active & set(seed.loc[seed["r_score"] == 1, "rfm_segment"])
    return active


def test_churned_customers_are_never_in_active_rfm_segments(fixture_run):
    """Property on one decaying cohort (UCI), in every monthly snapshot and today: a
    customer churned by the churn horizon has r_score 1 and is never champions, loyal, …"""
    home, _ = fixture_run
    active = _active_rfm_segments()
    customers = _marts(
        home, "select is_churned, r_score, rfm_segment, loyalty_tier from dim_customers"
    )
    churned = customers[customers["is_churned"]]
    assert len(churned) > 0
    assert (churned["r_score"] == 1).all()
    assert not churned["rfm_segment"].isin(active).any()
    assert not churned["loyalty_tier"].isin(["returning", "loyal", "vip"]).any()
    assert (customers.loc[~customers["is_churned"], "r_score"] >= 2).all()
    history = _marts(
        home,
        "select month_start, entity_id, segment_type, segment_value "
        "from fct_segment_membership_monthly where entity_type = 'customer'",
    ).pivot(index=["month_start", "entity_id"], columns="segment_type", values="segment_value")
    is_churned = history["churn_status"] == "churned"
    assert is_churned.any() and (~is_churned).any()
    assert not history.loc[is_churned, "rfm_segment"].isin(active).any()
    # the active segments are not empty: the rule moved churned customers, not everyone
    assert history.loc[~is_churned, "rfm_segment"].isin(active).any()


def test_one_name_for_no_channel_in_every_mart(fixture_run):
    """`Unassigned` (GA4's word, seed channel_grouping_rules) is the only spelling of "no
    channel": no text column of any published mart holds `Unattributed`, and no channel
    column holds `unknown`; the orders without any touch or UTM (all of Online Retail's)
    are credited to `Unassigned`."""
    home, _ = fixture_run
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR' and table_schema = current_schema()"
        ).fetchall()
        assert len({table for table, _ in columns}) > 20
        found = {}
        for table, column in columns:
            bad = ["unattributed"]
            if column.endswith(("channel", "channel_group")) and "sales" not in column:
                bad.append("unknown")
            quoted = ", ".join(f"'{value}'" for value in bad)
            hits = con.execute(
                f'select count(*) from "{table}" where lower(trim("{column}")) in ({quoted})'
            ).fetchone()[0]
            if hits:
                found[f"{table}.{column}"] = hits
        unassigned = con.execute(
            "select count(*) from fct_attribution where channel = 'Unassigned'"
        ).fetchone()[0]
        acquisition = con.execute(
            "select count(*) from dim_customers where acquisition_channel = 'Unassigned'"
        ).fetchone()[0]
    assert found == {}
    assert unassigned > 0
    assert acquisition > 4000


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
