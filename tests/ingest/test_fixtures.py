"""Every shipped mapping for a real fixture maps its file; counts reconcile with pandas."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from pipelines.ingest import run_ingest
from tests.ingest.conftest import raw

CASES = [
    ("fivetran_dbt_hubspot/company_data.csv", "fivetran_hubspot_company", "accounts"),
    ("fivetran_dbt_hubspot/contact_data.csv", "fivetran_hubspot_contact", "contacts"),
    ("fivetran_dbt_hubspot/deal_data.csv", "fivetran_hubspot_deal", "opportunities"),
    ("fivetran_dbt_salesforce/sf_account_data.csv", "fivetran_salesforce_account", "accounts"),
    ("fivetran_dbt_salesforce/sf_contact_data.csv", "fivetran_salesforce_contact", "contacts"),
    ("fivetran_dbt_salesforce/sf_lead_data.csv", "fivetran_salesforce_lead", "leads"),
    (
        "fivetran_dbt_salesforce/sf_opportunity_data.csv",
        "fivetran_salesforce_opportunity",
        "opportunities",
    ),
    ("fivetran_dbt_shopify/shopify_gql_order_data.csv", "fivetran_shopify_order", "orders"),
    ("fivetran_dbt_ga4_export/event_data.csv", "fivetran_ga4_event_data", "events"),
    ("maven_crm_sales_opportunities/accounts.csv", "maven_crm_accounts", "accounts"),
    (
        "maven_crm_sales_opportunities/sales_pipeline.csv",
        "maven_crm_sales_pipeline",
        "opportunities",
    ),
]
# (file, mapping, pandas group-by columns of the daily grain, spend in full units)
AD_CASES = [
    (
        "fivetran_dbt_google_ads/campaign_stats_data.csv",
        "fivetran_google_ads_campaign_stats",
        ["date", "customer_id", "id"],
        lambda df: df["cost_micros"] / 1e6,
    ),
    (
        "fivetran_dbt_facebook_ads/facebook_ads_basic_ad_data.csv",
        "fivetran_facebook_ads_basic_ad",
        ["date", "account_id", "ad_id"],
        lambda df: df["spend"],
    ),
    (
        "fivetran_dbt_linkedin/linkedin_ad_analytics_by_campaign_data.csv",
        "fivetran_linkedin_ad_analytics_by_campaign",
        ["day", "campaign_id"],
        lambda df: df["cost_in_usd"].fillna(df["cost_in_local_currency"]),
    ),
    (
        "fivetran_dbt_tiktok_ads/tiktok_campaign_report_hourly_data.csv",
        "fivetran_tiktok_campaign_report_hourly",
        ["day", "CAMPAIGN_ID"],
        lambda df: pd.to_numeric(df["SPEND"], errors="coerce"),
    ),
]


def _ingest_one(home, shared_fixtures, rel):
    target = home / "landing" / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_fixtures / rel, target)
    [result] = run_ingest(home).files
    return result


@pytest.mark.parametrize(("rel", "mapping", "entity"), CASES, ids=[c[1] for c in CASES])
def test_fixture_maps_every_row(home, shared_fixtures, rel, mapping, entity):
    expected = pd.read_csv(shared_fixtures / rel, dtype=str, keep_default_na=False)
    f = _ingest_one(home, shared_fixtures, rel)
    assert (f.status, f.mapping, f.entity) == ("loaded", mapping, entity), f.reason
    assert f.rows_read == len(expected) == f.rows_loaded + f.rows_quarantined
    assert f.rows_quarantined == 0, f.quarantine_reasons
    df = raw(home, entity)
    assert len(df) == len(expected)
    key = {"accounts": "account_id", "contacts": "contact_id", "leads": "lead_id"}.get(entity)
    if key:
        assert df[key].notna().all()


@pytest.mark.parametrize(("rel", "mapping", "by", "spend"), AD_CASES, ids=[c[1] for c in AD_CASES])
def test_ad_reports_are_summed_per_day(home, shared_fixtures, rel, mapping, by, spend):
    src = pd.read_csv(shared_fixtures / rel)
    if "day" in by and "day" not in src:  # TikTok: hourly timestamps → day
        src["day"] = pd.to_datetime(src["STAT_TIME_HOUR"]).dt.date
    f = _ingest_one(home, shared_fixtures, rel)
    assert (f.status, f.mapping) == ("loaded", mapping), f.reason
    assert f.rows_read == len(src) == f.rows_loaded
    df = raw(home, "ad_spend_daily")
    assert len(df) == f.rows_written == src.groupby(by).ngroups
    assert df["spend"].sum() == pytest.approx(spend(src).sum())
    assert df.duplicated(["spend_date", "platform", "ad_account_id", "campaign_id"]).sum() == 0


def test_maven_accounts_revenue_in_full_units(home, shared_fixtures):
    rel = "maven_crm_sales_opportunities/accounts.csv"
    src = pd.read_csv(shared_fixtures / rel)
    _ingest_one(home, shared_fixtures, rel)
    df = raw(home, "accounts").set_index("account_id")
    assert df.index.tolist() == src["account"].tolist()  # the name is the id
    assert df["annual_revenue"].tolist() == pytest.approx((src["revenue"] * 1e6).tolist())


def test_maven_pipeline_won_and_closed(home, shared_fixtures):
    rel = "maven_crm_sales_opportunities/sales_pipeline.csv"
    src = pd.read_csv(shared_fixtures / rel)
    _ingest_one(home, shared_fixtures, rel)
    df = raw(home, "opportunities")
    assert df["is_won"].eq(True).sum() == (src["deal_stage"] == "Won").sum()
    assert df["is_closed"].sum() == src["deal_stage"].isin(["Won", "Lost"]).sum()
    assert df["amount"].sum() == pytest.approx(src["close_value"].sum())
    assert df["created_at"].isna().sum() == src["engage_date"].isna().sum()


RETAIL = "uci_online_retail_ii_2009_2010/online_retail_II_2009-2010.parquet"


def test_online_retail_slice(home, shared_fixtures):
    """The first 60k lines (several chunks, invoices cut at a chunk edge), in seconds."""
    src = pd.read_parquet(shared_fixtures / RETAIL).head(60_000)
    src.to_parquet(home / "landing" / "online_retail_II_slice.parquet")
    [f] = run_ingest(home).files
    _check_online_retail(home, f, src)


@pytest.mark.slow
def test_online_retail_full_file(home, shared_fixtures):
    f = _ingest_one(home, shared_fixtures, RETAIL)
    _check_online_retail(home, f, pd.read_parquet(shared_fixtures / RETAIL))


def _check_online_retail(home, f, src):
    assert (f.status, f.mapping) == ("loaded", "online_retail_ii"), f.reason
    assert f.rows_read == len(src) == f.rows_loaded + f.rows_quarantined
    df = raw(home, "orders")
    assert len(df) == len(src)
    assert not df.duplicated(["order_id", "order_line_id"]).any()  # true duplicates survive
    assert df["is_return"].sum() == src["Invoice"].str.startswith("C").sum()
    # credit notes are returns, not cancellations: nothing in this export is cancelled
    credit = df["order_id"].str.startswith("C")
    assert set(df.loc[credit, "status"]) == {"returned"}
    assert set(df.loc[~credit, "status"]) == {"completed"}
    assert df.loc[credit, "is_return"].all()
    assert df["net_amount"].sum() == pytest.approx((src["Quantity"] * src["Price"]).sum())
    assert df["customer_id"].notna().sum() == src["Customer ID"].notna().sum()
    assert set(df["currency"]) == {"GBP"}
    first = df.sort_values("_source_row").iloc[0]
    assert (first["order_line_id"], first["customer_id"]) == ("85048-1", "13085")


def test_shopify_cancellation_is_not_a_return(home, shared_fixtures):
    """Fivetran Shopify orders: an order with cancelled_at loads as status `cancelled`
    (counts nowhere), never as a return; the others keep their financial status."""
    rel = "fivetran_dbt_shopify/shopify_gql_order_data.csv"
    src = pd.read_csv(shared_fixtures / rel, dtype=str, keep_default_na=False)
    f = _ingest_one(home, shared_fixtures, rel)
    assert (f.status, f.mapping) == ("loaded", "fivetran_shopify_order"), f.reason
    df = raw(home, "orders").set_index("order_id").sort_index()
    cancelled = src["cancelled_at"].str.strip() != ""
    wanted = src["display_financial_status"].str.lower().where(~cancelled, "cancelled")
    wanted.index = src["id"]
    assert df["status"].to_dict() == wanted.to_dict()
    assert cancelled.any() and (~cancelled).any()
    assert not df["is_return"].fillna(False).any()
