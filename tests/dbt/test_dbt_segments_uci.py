"""dim_customers on the real UCI Online Retail II export equals pandas computations.

Handling checked here, as documented in dim_customers: `C` invoices are returns (negative
lines): they reduce net revenue and count in return_rate but are not orders (the shipped
mapping's side is tested in tests/ingest/test_fixtures.py and, end to end, in
tests/pipeline/test_fixture_run.py); a churned customer is never in an active RFM segment; lines without
Customer ID are guest orders and stay out of the customer mart. The file is in GBP and the
reporting currency USD: amounts go through the shipped monthly FX seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import segments_expected as expected
from dbt_invoke import dbt_build, read_table
from raw_builder import write_raw
from segments_fixtures import uci_order_lines

UCI_FILE = "uci_online_retail_ii_2009_2010/online_retail_II_2009-2010.parquet"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt")]


def _build(tmp_path_factory, shared_fixtures, customers):
    home = tmp_path_factory.mktemp("uci_home")
    lines = uci_order_lines(shared_fixtures / UCI_FILE, customers=customers)
    write_raw(home, {"orders": lines})
    dbt_build(home, tmp_path_factory.getbasetemp() / "dbt_target")
    return home, lines


def _assert_customers_equal(home, lines):
    actual = read_table(home, "marts.dim_customers").set_index("customer_id").sort_index()
    wanted = expected.expected_customers(lines, rate_to_reporting=expected.usd_rate).sort_index()
    assert list(actual.index) == list(wanted.index)
    for column in [
        "orders", "recency_days", "r_score", "f_score", "m_score", "rfm_segment",
        "is_churned", "churn_risk_band", "is_repeat_buyer", "purchase_frequency_band", "loyalty_tier",
        "orders_with_returns",
    ]:  # fmt: skip
        pd.testing.assert_series_equal(
            actual[column], wanted[column], check_names=False, check_dtype=False, obj=column
        )
    for column in ["net_revenue", "gross_profit", "aov", "return_rate", "churn_horizon_days"]:
        np.testing.assert_allclose(
            actual[column], wanted[column], rtol=1e-9, atol=1e-6, err_msg=column
        )
    for column in ["first_order_at", "last_order_at"]:
        assert (pd.to_datetime(actual[column]) == wanted[column]).all(), column
    # one decaying cohort: a churned customer scores r 1 and is never in a segment a recent
    # buyer can be in (those the seed maps from r_score >= 3: champions, loyal, ...)
    active = {seg for (r, _), seg in expected.rfm_map().items() if r >= 3}
    churned = actual[actual["is_churned"]]
    assert len(churned) > 0 and (churned["r_score"] == 1).all()
    assert not churned["rfm_segment"].isin(active).any()
    assert not churned["loyalty_tier"].isin(["returning", "loyal", "vip"]).any()
    assert actual.loc[~actual["is_churned"], "rfm_segment"].isin(active).any()
    return actual


@pytest.fixture(scope="module")
def uci_sample(tmp_path_factory, shared_fixtures):
    return _build(tmp_path_factory, shared_fixtures, customers=300)


def test_uci_sample_dim_customers_equals_pandas(uci_sample):
    home, lines = uci_sample
    actual = _assert_customers_equal(home, lines)
    # guests and return-only customers are not customers
    assert lines["customer_id"].isna().any()
    assert actual.index.notna().all()


def test_uci_sample_history_ends_with_current_segments(uci_sample):
    home, _ = uci_sample
    history = read_table(home, "marts.fct_segment_membership_monthly")
    customers = read_table(home, "marts.dim_customers")
    last_month = history[
        (history["entity_type"] == "customer")
        & (history["segment_type"] == "rfm_segment")
        & (history["month_start"] == history["month_start"].max())
    ].set_index("entity_id")["segment_value"]
    current = customers.set_index("customer_key")["rfm_segment"]
    pd.testing.assert_series_equal(
        last_month.sort_index(), current.sort_index(), check_names=False, check_index_type=False
    )
    # every customer appears once per month from its first purchase month on
    first_months = pd.to_datetime(customers.set_index("customer_key")["cohort_month"])
    as_of_month = pd.Timestamp(customers["as_of_date"].iloc[0]).to_period("M").to_timestamp()
    months = (
        (as_of_month.year - first_months.dt.year) * 12
        + as_of_month.month
        - first_months.dt.month
        + 1
    )
    rfm_rows = history[
        (history["entity_type"] == "customer") & (history["segment_type"] == "rfm_segment")
    ]
    assert len(rfm_rows) == int(months.sum())


def test_uci_full_file_dim_customers_equals_pandas(tmp_path_factory, shared_fixtures):
    home, lines = _build(tmp_path_factory, shared_fixtures, customers=None)
    actual = _assert_customers_equal(home, lines)
    assert len(actual) > 4000
