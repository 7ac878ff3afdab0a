"""A closed-deals export that names its leads and carries the accounts (issue 18.3).

Files in the exact shape of Olist's public "Marketing Funnel" dataset
(`olist_marketing_qualified_leads_dataset.csv`, `olist_closed_deals_dataset.csv`: md5 ids,
`won_date` with a time, empty and `unknown` cells, `0.0` for an undeclared revenue) go
through the shipped mapping (pipelines/ingest/mappings/olist_marketing_funnel.yaml) and the
real ingest, then dbt. The deals name their leads and have no create date; the closed-deals
file is read twice, as deals and as accounts (`reading: additional`). Expected values are
computed from the CSV text with pandas.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from dbt_invoke import dbt_build, read_table

from pipelines.ingest.loader import run_ingest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt")]

ORIGINS = ["paid_search", "organic_search", "social", "unknown", "", "email", "referral"]
CHANNEL = {"paid_search": "Paid Search", "organic_search": "Organic Search", "email": "Email",
           "referral": "Referral"}  # fmt: skip
SEGMENTS = ["pet", "car_accessories", "home_decor", "health_beauty"]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _olist_files(n_leads: int = 60, seed: int = 3) -> tuple[str, str]:
    rng = np.random.default_rng(seed)
    first = pd.Timestamp("2017-06-01") + pd.to_timedelta(rng.integers(0, 240, n_leads), "D")
    mqls = pd.DataFrame(
        {
            "mql_id": [_md5(f"mql{i}") for i in range(n_leads)],
            "first_contact_date": first.strftime("%Y-%m-%d"),
            "landing_page_id": [_md5(f"lp{i % 7}") for i in range(n_leads)],
            "origin": rng.choice(ORIGINS, n_leads),
        }
    )
    won = mqls.sample(frac=0.35, random_state=seed).reset_index(drop=True)
    n = len(won)
    won_at = pd.to_datetime(won["first_contact_date"]) + pd.to_timedelta(
        rng.integers(3, 90, n) * 86400 + rng.integers(0, 86400, n), "s"
    )
    sellers = [_md5(f"seller{i}") for i in range(n)]
    sellers[1] = sellers[0]  # one seller closed through two MQLs: one account, two deals
    deals = pd.DataFrame(
        {
            "mql_id": won["mql_id"],
            "seller_id": sellers,
            "sdr_id": [_md5(f"sdr{i % 3}") for i in range(n)],
            "sr_id": [_md5(f"sr{i % 4}") for i in range(n)],
            "won_date": won_at.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "business_segment": rng.choice(SEGMENTS, n),
            "lead_type": "online_medium",
            "lead_behaviour_profile": rng.choice(["cat", "eagle", "wolf", ""], n),
            "has_company": "",
            "has_gtin": "",
            "average_stock": "",
            "business_type": rng.choice(["reseller", "manufacturer"], n),
            "declared_product_catalog_size": "",
            "declared_monthly_revenue": rng.choice(["0.0", "20000.0", "50000.0"], n),
        }
    )
    return mqls.to_csv(index=False), deals.to_csv(index=False)


@pytest.fixture(scope="module")
def olist(tmp_path_factory):
    home = tmp_path_factory.mktemp("olist_home")
    mql_text, deals_text = _olist_files()
    landing = home / "landing" / "olist"
    landing.mkdir(parents=True)
    (landing / "olist_marketing_qualified_leads_dataset.csv").write_text(mql_text)
    (landing / "olist_closed_deals_dataset.csv").write_text(deals_text)
    run_ingest(home)
    dbt_build(home, tmp_path_factory.getbasetemp() / "dbt_target", select="+path:models/marts")
    mqls = pd.read_csv(landing / "olist_marketing_qualified_leads_dataset.csv", dtype=str)
    deals = pd.read_csv(landing / "olist_closed_deals_dataset.csv", dtype=str)
    marts = {
        name: read_table(home, f"marts.{name}")
        for name in (
            "kpi_b2b_funnel_monthly",
            "kpi_b2b_monthly",
            "fct_opportunities",
            "dim_accounts",
        )  # fmt: skip
    }
    return home, mqls, deals, marts


def test_the_deals_file_loads_as_deals_and_as_accounts(olist):
    home, mqls, deals, _ = olist
    manifests = [json.loads(p.read_text()) for p in (home / "manifest").glob("*.json")]
    by_entity = {(m["file"].split("/")[-1], m["entity"]): m for m in manifests}
    for key, rows in {
        ("olist_marketing_qualified_leads_dataset.csv", "leads"): len(mqls),
        ("olist_closed_deals_dataset.csv", "opportunities"): len(deals),
        ("olist_closed_deals_dataset.csv", "accounts"): len(deals),
    }.items():
        record = by_entity[key]
        assert record["status"] == "loaded", record
        assert (record["rows_read"], record["rows_loaded"]) == (rows, rows)


def test_funnel_of_deals_naming_their_leads(olist):
    _, mqls, deals, marts = olist
    lead = mqls.assign(
        month_start=pd.to_datetime(mqls["first_contact_date"]).dt.to_period("M").dt.to_timestamp(),
        channel=mqls["origin"].map(CHANNEL).fillna("Unassigned"),
        won=mqls["mql_id"].isin(deals["mql_id"]).astype(int),
    )
    expected = lead.groupby(["month_start", "channel"]).agg(
        leads=("mql_id", "size"), won=("won", "sum")
    )
    funnel = marts["kpi_b2b_funnel_monthly"]
    assert set(funnel["lead_type"]) == {"form_fill"}
    got = funnel.assign(month_start=pd.to_datetime(funnel["month_start"])).set_index(
        ["month_start", "channel"]
    )
    got = got.loc[expected.index]
    assert len(got) == len(funnel)
    assert got["leads"].tolist() == expected["leads"].tolist()
    assert got["mqls"].tolist() == expected["leads"].tolist()  # every MQL row is an MQL
    for stage in ("sqls", "opportunities", "won_deals"):
        assert got[stage].tolist() == expected["won"].tolist()
    assert expected["won"].sum() == len(deals) > 10


def test_won_deals_start_at_their_leads_first_contact(olist):
    _, mqls, deals, marts = olist
    fct = marts["fct_opportunities"].set_index("opportunity_id").loc[deals["mql_id"]]
    first_contact = pd.to_datetime(
        deals["mql_id"].map(mqls.set_index("mql_id")["first_contact_date"])
    )
    won_at = pd.to_datetime(deals["won_date"])
    assert fct["is_created_at_from_lead"].all()
    assert fct["lead_id"].tolist() == deals["mql_id"].tolist()
    assert pd.to_datetime(fct["created_at"]).tolist() == first_contact.tolist()
    days = (won_at.dt.normalize() - first_contact).dt.days
    assert fct["sales_cycle_days"].tolist() == days.tolist()
    assert fct["days_from_first_contact_to_won"].tolist() == days.tolist()
    assert fct["account_id"].tolist() == deals["seller_id"].tolist()
    kpi = marts["kpi_b2b_monthly"]
    won = kpi[kpi["won_deals"] > 0]
    cycle = pd.DataFrame({"month": won_at.dt.to_period("M").dt.to_timestamp(), "days": days})
    expected = cycle.groupby("month")["days"].agg(["size", "mean", "median"])
    got = won.assign(month=pd.to_datetime(won["month_start"])).set_index("month").sort_index()
    assert got["won_deals"].tolist() == expected["size"].tolist()
    np.testing.assert_allclose(got["sales_cycle_days_mean"], expected["mean"])
    np.testing.assert_allclose(got["sales_cycle_days_median"], expected["median"])


def test_accounts_read_from_the_deals_file_agree_with_new_accounts(olist):
    _, _, deals, marts = olist
    dim = marts["dim_accounts"].set_index("account_id")
    sellers = deals.drop_duplicates("seller_id").set_index("seller_id")
    assert sorted(dim.index) == sorted(sellers.index)
    assert set(dim["account_source"]) == {"account export"}
    declared = sellers["declared_monthly_revenue"].astype(float)
    assert dim.loc[declared.index, "annual_revenue_rc"].isna().tolist() == (declared == 0).tolist()
    first_won = pd.to_datetime(deals["won_date"]).groupby(deals["seller_id"]).min()
    kpi = marts["kpi_b2b_monthly"]
    per_month = first_won.dt.to_period("M").dt.to_timestamp().value_counts().sort_index()
    got = kpi.assign(month_start=pd.to_datetime(kpi["month_start"])).set_index("month_start")
    got = got.loc[got["new_accounts"] > 0, "new_accounts"].sort_index()
    pd.testing.assert_series_equal(got, per_month, check_names=False, check_dtype=False)
    assert kpi["new_accounts"].sum() == dim["first_won_at"].notna().sum() == len(sellers)
    assert len(sellers) == len(deals) - 1  # one seller won through two MQLs
