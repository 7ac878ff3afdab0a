"""Segment marts on a small hand-made dataset: staging, sessions, identity and the marts
against values worked out independently (see segments_small_dataset.py)."""

from __future__ import annotations

import hashlib
import hmac
import os

import numpy as np
import pandas as pd
import pytest
import segments_expected as expected
import segments_small_dataset as data
from dbt_invoke import dbt_build, read_table
from raw_builder import write_raw

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt")]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("small_home")
    write_raw(home, data.frames())
    dbt_build(home, tmp_path_factory.getbasetemp() / "dbt_target")
    return home


def _keyed_hash(value: str) -> str:
    """HMAC-SHA-256 with the test key (tests/conftest.py sets SEGMART_PII_KEY)."""
    key = os.environ["SEGMART_PII_KEY"]
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def test_staging_keeps_latest_version_and_drops_deleted(home):
    accounts = read_table(home, "staging.stg_crm__accounts").set_index("account_id")
    assert sorted(accounts.index) == ["A1", "A2", "A3"]  # A4 deleted in its latest version
    assert accounts.loc["A1", "employees"] == 6000
    assert accounts.loc["A1", "account_domain"] == "acme.com"
    orders = read_table(home, "staging.stg_crm__orders").set_index(["order_id", "order_line_id"])
    assert orders.loc[("o1", "1"), "net_amount"] == 65.0


def test_pii_is_hashed_before_leaving_staging(home):
    for relation in ["stg_crm__contacts", "stg_crm__orders", "stg_crm__leads", "stg_web__events"]:
        frame = read_table(home, f"staging.{relation}")
        assert not {"email", "phone", "first_name", "last_name"} & set(frame.columns)
        text = frame.select_dtypes(include=["object", "string"]).astype(str)
        assert not text.apply(lambda col: col.str.contains("@")).any().any(), relation
    contacts = read_table(home, "staging.stg_crm__contacts").set_index("contact_id")
    assert contacts.loc["C1", "email_hash"] == _keyed_hash("bob@acme.com")
    assert contacts.loc["C1", "phone_hash"] == _keyed_hash("+15550102000")
    assert contacts.loc["C1", "email_domain"] == "acme.com"


def test_sessions_split_on_timeout_and_campaign_change(home):
    sessions = read_table(home, "intermediate.int_sessions").sort_values("started_at")
    p1 = sessions[sessions["user_pseudo_id"] == "p1"]
    assert list(p1["channel_group"]) == ["Paid Social", "Organic Search", "Paid Search"]
    assert list(p1["source"]) == ["facebook", "google", "google"]
    assert list(p1["landing_page"]) == ["/pricing", "/", "/"]
    assert list(p1["events"]) == [2, 1, 2]
    assert list(p1["has_purchase"]) == [False, False, True]
    eur = expected.fx_to_usd("EUR", pd.Timestamp("2024-02-01"))
    assert p1["purchase_revenue"].iloc[2] == pytest.approx(50.0 * eur)
    p2 = sessions[sessions["user_pseudo_id"] == "p2"]
    assert list(p2["channel_group"]) == ["Direct"]


def test_identity_links_web_users_contacts_and_accounts(home):
    identity = read_table(home, "intermediate.int_identity")
    person = identity.set_index(["identifier_type", "identifier_value"])["person_key"]
    assert person[("user_pseudo_id", "p1")] == person[("contact_id", "C3")]
    assert person[("customer_id", "k2")] == person[("contact_id", "C3")]  # same e-mail
    people = read_table(home, "intermediate.int_people_resolved").set_index("contact_id")
    assert people.loc["C2", "account_id"] == "A1"
    assert people.loc["C2", "account_match_method"] == "email_domain"
    assert pd.isna(people.loc["C3", "account_id"])  # gmail never matches an account


def test_dim_customers_equals_pandas(home):
    orders = data.orders()
    lines = pd.concat(orders).drop_duplicates(["order_id", "order_line_id"], keep="last")

    wanted = expected.expected_customers(lines, rate_to_reporting=expected.usd_rate).sort_index()
    actual = read_table(home, "marts.dim_customers").set_index("customer_id").sort_index()
    assert list(actual.index) == ["k1", "k2", "k3", "k5"]
    assert list(wanted.index) == ["k1", "k2", "k3", "k5"]
    for column in ["orders", "recency_days", "r_score", "f_score", "m_score", "rfm_segment",
                   "is_churned", "churn_risk_band", "is_repeat_buyer", "loyalty_tier"]:  # fmt: skip
        assert list(actual[column]) == list(wanted[column]), column
    for column in ["net_revenue", "gross_profit", "aov", "return_rate", "churn_horizon_days"]:
        np.testing.assert_allclose(
            actual[column], wanted[column], rtol=1e-9, atol=1e-6, err_msg=column
        )
    # the as-of date is the last business date, not open deal O4's expected close in 2025
    assert str(actual["as_of_date"].iloc[0])[:10] == str(wanted["as_of_date"].iloc[0])[:10]
    assert str(actual["as_of_date"].iloc[0])[:4] == "2024"
    # worked by hand: k1 buys 65+40, 50-10, 30 = 175 over 3 orders
    assert actual.loc["k1", "net_revenue"] == pytest.approx(175.0)
    assert actual.loc["k5", "gross_profit"] == pytest.approx(300.0)
    assert actual.loc["k1", "preferred_sales_channel"] == "web"
    assert actual.loc["k1", "preferred_category"] == "toys"  # 65 + 40 > 40 + 30
    assert actual.loc["k2", "contact_id"] == "C3"
    assert actual.loc["k2", "acquisition_channel"] == "Paid Social"
    assert actual.loc["k2", "motion"] == "b2c"


def test_dim_accounts_bands_tiers_motion_and_propensity(home):
    actual = read_table(home, "marts.dim_accounts").set_index("account_id")
    assert sorted(actual.index) == ["A1", "A2", "A3"]
    assert actual.loc["A1", ["industry", "size_band", "revenue_band", "region"]].tolist() == [
        "Technology", "5000+", "1B+", "AMER",
    ]  # fmt: skip
    assert actual.loc["A1", "sophistication_tier"] == "advanced"  # 2 + 3 + 3 + 2 points
    assert actual.loc["A3", "sophistication_tier"] == "basic"
    eur_2024_01 = expected.fx_to_usd("EUR", pd.Timestamp("2024-01-15"))
    eur_2024_02 = expected.fx_to_usd("EUR", pd.Timestamp("2024-01-01"))  # A3 updated 2024-01-01
    assert actual.loc["A3", "annual_revenue_rc"] == pytest.approx(400_000 * eur_2024_02)
    assert actual.loc[["A1", "A2", "A3"], "motion"].tolist() == ["b2b", "b2g", "b2c"]
    assert actual.loc[["A1", "A2", "A3"], "lifecycle_stage"].tolist() == [
        "customer", "opportunity", "customer",
    ]  # fmt: skip

    revenue = pd.Series({"A1": 24000.0, "A2": 0.0, "A3": 900.0 * eur_2024_01})
    np.testing.assert_allclose(actual.loc[revenue.index, "trailing_12m_revenue_rc"], revenue)
    assert (
        actual.loc[revenue.index, "value_tier"].tolist() == expected.value_tiers(revenue).tolist()
    )
    assert actual.loc[["A1", "A2", "A3"], "growth_trend"].tolist() == ["new", "unknown", "new"]

    # decided trials: L1 won and L2 in A1's cell, L3 lost in its own cell, O3 won in A3's
    trials = pd.DataFrame(
        [
            ("Technology", "5000+", "AMER", True),
            ("Technology", "5000+", "AMER", False),
            ("Technology", "1000-4999", "AMER", False),
            ("Retail", "1-9", "EMEA", True),
        ],
        columns=["industry", "size_band", "region", "is_won"],
    )
    cells, global_rate = expected.smoothed_propensity(trials, ["industry", "size_band", "region"])
    assert actual.loc["A1", "propensity_score"] == pytest.approx(
        cells.loc[("Technology", "5000+", "AMER"), "propensity_score"]
    )
    assert actual.loc["A3", "propensity_score"] == pytest.approx(
        cells.loc[("Retail", "1-9", "EMEA"), "propensity_score"]
    )
    assert actual.loc["A2", "propensity_score"] == pytest.approx(global_rate)
    assert actual.loc[["A1", "A2", "A3"], "propensity_cell_size"].tolist() == [2, 0, 1]


def test_segment_history_shows_movements(home):
    history = read_table(home, "marts.fct_segment_membership_monthly")
    a1 = history[(history["entity_id"] == "A1") & (history["segment_type"] == "lifecycle_stage")]
    a1 = a1.set_index(pd.to_datetime(a1["month_start"]))["segment_value"]
    assert a1[pd.Timestamp("2023-08-01")] == "opportunity"  # O1 open since June
    assert a1[pd.Timestamp("2023-09-01")] == "customer"  # won in September
    changed = history[history["is_changed"] & (history["entity_id"] == "A1")]
    assert pd.Timestamp("2023-09-01") in set(pd.to_datetime(changed["month_start"]))


def test_dim_contacts_segments_prospects_too(home):
    contacts = read_table(home, "marts.dim_contacts").set_index("contact_id")
    assert contacts.loc[["C1", "C2", "C3", "C4"], "lifecycle_stage"].tolist() == [
        "customer",  # lead L1 won
        "customer account contact",  # no funnel of its own, A1 is a customer
        "customer",  # bought as k2 (same e-mail)
        "contact",  # A2 only has an open deal
    ]
    assert contacts.loc["C2", "account_id"] == "A1"
    assert contacts.loc["C2", "firmographic_segment"] == "Technology | 5000+ employees | AMER"
    assert contacts.loc["C3", "email_domain_type"] == "free_mail"
    assert contacts.loc[["C1", "C2", "C3", "C4"], "is_customer"].tolist() == [
        True,
        False,
        True,
        False,
    ]
