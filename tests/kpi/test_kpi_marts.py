"""KPI marts on the hand-made dataset equal the answers worked out in pandas (kpi_expected)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kpi_expected import (
    b2b_monthly,
    b2c_monthly,
    channel_monthly,
    cohort_retention,
    nps_by_month,
    order_facts,
    segment_unit_economics,
    spend,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("kpi_dbt")]

AS_OF = pd.Timestamp("2024-03-20")  # the latest business date of the dataset (a deal close)


def _by_month(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["month_start"] = pd.to_datetime(frame["month_start"])
    return frame.set_index("month_start").sort_index()


def _assert_close(actual: pd.Series, expected: pd.Series, name: str) -> None:
    actual, expected = actual.align(expected, join="outer")
    pd.testing.assert_series_equal(
        actual.astype(float), expected.astype(float), check_names=False, rtol=1e-9, obj=name
    )


def test_total_spend_reconciles_with_raw_spend_converted_with_the_fx_seed(kpi_warehouse):
    expected = spend()
    monthly = _by_month(kpi_warehouse.table("marts.kpi_channel_monthly"))
    daily = kpi_warehouse.table("marts.kpi_channel_daily")
    assert monthly["spend"].sum() == pytest.approx(expected["spend_usd"].sum(), rel=1e-12)
    assert daily["spend"].sum() == pytest.approx(expected["spend_usd"].sum(), rel=1e-12)
    # the restated Jan 20 row replaced the first report (210, not 200 + 210)
    january = monthly.loc["2024-01-01"].set_index("channel")
    assert january.loc["Paid Search", "spend"] == pytest.approx(100.0 + 210.0)
    facts = kpi_warehouse.table("marts.fct_ad_spend_daily")
    assert facts["spend_original"].sum() == pytest.approx(expected["spend"].sum())


def test_channel_monthly_cac_roas_leads_and_new_customers(kpi_warehouse):
    expected = channel_monthly()
    actual = kpi_warehouse.table("marts.kpi_channel_monthly")
    actual["month_start"] = pd.to_datetime(actual["month_start"])
    actual = actual.set_index(["month_start", "channel"]).sort_index()
    assert sorted(actual.index) == sorted(expected.index)
    columns = ("spend", "sessions", "leads", "new_customers", "attributed_revenue", "cac", "roas")
    for column in columns:
        _assert_close(actual[column], expected[column], column)
    # platform-reported conversion value (99,999 a row) never reaches revenue
    assert actual["attributed_revenue"].max() < 99_999


def test_channel_ratios_are_null_without_spend(kpi_warehouse):
    monthly = kpi_warehouse.table("marts.kpi_channel_monthly")
    unpaid = monthly[monthly["spend"] == 0]
    assert not unpaid.empty
    assert unpaid[["cpc", "cost_per_lead", "cac", "roas", "romi"]].isna().all().all()


def test_b2c_aov_churn_and_ltv(kpi_warehouse):
    expected = b2c_monthly(AS_OF)
    actual = _by_month(kpi_warehouse.table("marts.kpi_b2c_monthly"))
    for column, expected_column in [
        ("orders", "orders"),
        ("net_revenue", "net_revenue"),
        ("aov", "aov"),
        ("active_customers", "active_customers"),
        ("customers_alive_at_start", "alive"),
        ("churned_customers", "churned"),
        ("churn_rate", "churn_rate"),
        ("ltv", "ltv"),
    ]:
        _assert_close(actual[column], expected[expected_column], column)
    # the hand-made story: C2's 63-day gap exceeds the p90 horizon (61.3 days) -> churned in March
    assert actual.loc["2024-03-01", "churned_customers"] == 1


def test_b2c_blended_cac_and_conversion_rate(kpi_warehouse):
    actual = _by_month(kpi_warehouse.table("marts.kpi_b2c_monthly"))
    facts = order_facts()
    new_customers = facts[facts["is_first_order"]].groupby("month").size()
    spent = spend().groupby("month")["spend_usd"].sum()
    expected_cac = (spent / new_customers).dropna()
    _assert_close(actual["blended_cac"].dropna(), expected_cac, "blended_cac")
    # one purchase event in January's six sessions
    assert actual.loc["2024-01-01", "conversion_rate"] == pytest.approx(1 / 6)


def test_cohort_retention(kpi_warehouse):
    expected = cohort_retention(AS_OF)
    actual = kpi_warehouse.table("marts.fct_cohort_retention")
    actual["cohort_month"] = pd.to_datetime(actual["cohort_month"])
    actual = actual.set_index(["cohort_month", "months_since_acquisition"]).sort_index()
    for column in ("cohort_customers", "retained_customers", "retention_rate"):
        _assert_close(actual[column], expected[column], column)


def test_b2b_win_rate_sales_cycle_acv_and_renewal_rate(kpi_warehouse):
    expected = b2b_monthly(AS_OF)
    actual = _by_month(kpi_warehouse.table("marts.kpi_b2b_monthly"))
    active = actual.loc[expected.index]
    for column in (
        "won_deals",
        "lost_deals",
        "win_rate",
        "sales_cycle_days_mean",
        "sales_cycle_days_median",
        "average_acv",
        "renewal_rate",
    ):
        _assert_close(active[column], expected[column], column)
    # OP0's contract ends 2024-02-29 and OP3 renews it
    assert actual.loc["2024-02-01", "renewal_rate"] == 1.0


def test_nps_b2c_and_b2b(kpi_warehouse):
    b2c = _by_month(kpi_warehouse.table("marts.kpi_b2c_monthly"))
    b2b = _by_month(kpi_warehouse.table("marts.kpi_b2b_monthly"))
    _assert_close(b2c["nps"].dropna(), nps_by_month("customer"), "b2c nps")
    _assert_close(b2b["nps"].dropna(), nps_by_month("account"), "b2b nps")


def test_attributed_revenue_is_conserved_across_models(kpi_warehouse):
    attribution = kpi_warehouse.table("marts.fct_attribution")
    conversions = kpi_warehouse.table("marts.fct_conversions")
    totals = attribution.groupby("attribution_model")["attributed_revenue"].sum()
    assert len(totals) == 6
    np.testing.assert_allclose(totals.to_numpy(), conversions["revenue"].sum(), rtol=1e-12)
    credit_sums = attribution.groupby(["conversion_key", "attribution_model"])["credit"].sum()
    assert (credit_sums.map(float) == 1.0).all()


def test_kpi_catalogue_points_at_existing_mart_columns(kpi_warehouse):
    catalogue = kpi_warehouse.table("marts.kpi_definitions")
    assert catalogue["kpi_name"].is_unique
    for mart, group in catalogue.groupby("mart"):
        columns = set(kpi_warehouse.table(f"marts.{mart}").columns)
        missing = set(group["mart_column"]) - columns
        assert not missing, f"{mart}: catalogue names missing columns {missing}"


def test_segment_ltv_and_cac_equal_pandas(kpi_warehouse):
    """Unit economics per customer segment (acquisition channel) in kpi_segment_monthly."""
    customers = kpi_warehouse.table("marts.dim_customers")
    segment_of = dict(zip(customers["customer_id"], customers["acquisition_channel"], strict=True))
    expected = segment_unit_economics(segment_of, AS_OF)
    mart = kpi_warehouse.table("marts.kpi_segment_monthly")
    mart = mart[
        (mart["entity_type"] == "customer") & (mart["segment_type"] == "acquisition_channel")
    ]
    mart = mart.assign(month_start=pd.to_datetime(mart["month_start"]))
    actual = mart.set_index(["segment_value", "month_start"]).sort_index()
    assert list(actual.index) == list(expected.index)
    assert (actual["members"] == expected["members"]).all()
    assert (actual["new_customers"] == expected["new_customers"]).all()
    for column in ("acquisition_spend", "cac", "ltv", "ltv_to_cac"):
        _assert_close(actual[column], expected[column], column)
    assert expected["acquisition_spend"].sum() > 0  # some paid acquisition in the dataset
    assert expected["ltv_to_cac"].notna().any()


def test_segment_acquisition_spend_splits_channel_spend(kpi_warehouse):
    """Every segmentation splits the same acquisition spend: per month, the sum over its
    segments equals the CAC of each channel-month times its new B2C customers."""
    mart = kpi_warehouse.table("marts.kpi_segment_monthly")
    mart = mart[mart["entity_type"] == "customer"]
    per_type = mart.groupby(["segment_type", "month_start"])["acquisition_spend"].sum().unstack(0)
    assert per_type.shape[1] >= 3
    for column in per_type.columns:
        _assert_close(per_type[column], per_type.iloc[:, 0], column)
    channel = kpi_warehouse.table("marts.kpi_channel_monthly")
    by_channel = (
        channel.assign(
            allocated=channel["spend"]
            / channel["new_customers"].replace(0, np.nan)
            * channel["new_b2c_customers"]
        )
        .groupby("month_start")["allocated"]
        .sum(min_count=1)
    )
    by_channel = by_channel[by_channel > 0]
    _assert_close(per_type.iloc[:, 0][per_type.iloc[:, 0] > 0], by_channel, "allocated spend")
    assert mart.loc[mart["entity_type"] == "account", "ltv"].isna().all()
