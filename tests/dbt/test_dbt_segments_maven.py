"""dim_accounts on the real Maven CRM dataset equals the documented rules computed in pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import segments_expected as expected
from dbt_invoke import dbt_build, read_table
from raw_builder import write_raw
from segments_fixtures import maven_frames

# Maven's sectors and countries -> what the taxonomy and region seeds must give them
INDUSTRY = {
    "technolgy": "Technology",
    "software": "Technology",
    "medical": "Healthcare",
    "retail": "Retail",
    "finance": "Financial Services",
    "marketing": "Marketing & Advertising",
    "entertainment": "Media & Entertainment",
    "telecommunications": "Telecommunications",
    "services": "Professional Services",
    "employment": "Employment & HR",
}
REGION = {
    "United States": "AMER", "Panama": "AMER", "Brazil": "AMER",
    "Belgium": "EMEA", "Germany": "EMEA", "Italy": "EMEA", "Jordan": "EMEA", "Kenya": "EMEA",
    "Norway": "EMEA", "Poland": "EMEA", "Romania": "EMEA",
    "China": "APAC", "Japan": "APAC", "Korea": "APAC", "Philipines": "APAC",
}  # fmt: skip

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt")]


@pytest.fixture(scope="module")
def maven(tmp_path_factory, shared_fixtures):
    home = tmp_path_factory.mktemp("maven_home")
    frames = maven_frames(shared_fixtures / "maven_crm_sales_opportunities")
    write_raw(home, frames)
    dbt_build(home, tmp_path_factory.getbasetemp() / "dbt_target")
    return frames, read_table(home, "marts.dim_accounts").set_index("account_id")


def _expected_accounts(frames) -> pd.DataFrame:
    accounts = frames["accounts"].set_index("account_id")
    opps = frames["opportunities"].copy()
    opps["is_won"] = opps["stage"] == "Won"
    opps["is_closed"] = opps["stage"].isin(["Won", "Lost"])
    out = pd.DataFrame(index=accounts.index)
    out["industry"] = accounts["industry"].map(INDUSTRY)
    out["size_band"] = expected.size_band(accounts["employees"])
    out["revenue_band"] = expected.revenue_band(accounts["annual_revenue"])
    out["region"] = accounts["country"].map(REGION)
    out["firmographic_segment"] = (
        out["industry"] + " | " + out["size_band"] + " employees | " + out["region"]
    )

    # open deals count with their create date only (their close date is an expected one)
    as_of = max(opps.loc[opps["is_closed"], "closed_at"].max(), opps["created_at"].max())
    as_of_month = as_of.to_period("M").to_timestamp()
    won = opps[opps["is_won"]].assign(month=lambda d: expected.month_start(d["closed_at"]))
    in_window = (won["month"] > as_of_month - pd.DateOffset(months=12)) & (
        won["month"] <= as_of_month
    )
    in_prior = (won["month"] > as_of_month - pd.DateOffset(months=24)) & (
        won["month"] <= as_of_month - pd.DateOffset(months=12)
    )
    out["trailing_12m_revenue_rc"] = won[in_window].groupby("account_id")["amount"].sum()
    out["prior_12m_revenue_rc"] = won[in_prior].groupby("account_id")["amount"].sum()
    out[["trailing_12m_revenue_rc", "prior_12m_revenue_rc"]] = out[
        ["trailing_12m_revenue_rc", "prior_12m_revenue_rc"]
    ].fillna(0.0)
    out["value_tier"] = expected.value_tiers(out["trailing_12m_revenue_rc"])
    out["growth_trend"] = [
        expected.growth_trend(t, p)
        for t, p in zip(out["trailing_12m_revenue_rc"], out["prior_12m_revenue_rc"], strict=True)
    ]
    out["lifecycle_stage"] = np.where(
        opps[opps["is_won"]].groupby("account_id").size().reindex(out.index).fillna(0) > 0,
        "customer",
        np.where(
            opps[~opps["is_closed"]].groupby("account_id").size().reindex(out.index).fillna(0) > 0,
            "opportunity",
            "prospect",
        ),
    )

    # propensity: every closed deal is a trial (Maven has no leads); deals without an account
    # fall in the Unknown cell
    trials = opps[opps["is_closed"]].join(out[["industry", "size_band", "region"]], on="account_id")
    trials = trials.fillna({"industry": "Unknown", "size_band": "unknown", "region": "Unknown"})
    cells, global_rate = expected.smoothed_propensity(trials, ["industry", "size_band", "region"])
    joined = out.join(cells, on=["industry", "size_band", "region"])
    out["propensity_score"] = joined["propensity_score"].fillna(global_rate)
    out["propensity_cell_size"] = joined["cell_trials"].fillna(0).astype(int)

    # motion: no domains or contacts here, so deal size and cycle length vote
    closed = opps[opps["is_closed"]].assign(
        cycle=lambda d: (d["closed_at"] - d["created_at"]).dt.days
    )
    median_won = won.groupby("account_id")["amount"].median().reindex(out.index)
    median_cycle = closed.groupby("account_id")["cycle"].median().reindex(out.index)
    b2b = (median_won >= 1000).astype(int) + (median_cycle >= 14).astype(int)
    b2c = (median_won < 1000).astype(int) + (median_cycle < 14).astype(int)
    out["motion"] = np.select([b2b > b2c, b2c > b2b, b2b == 0], ["b2b", "b2c", "b2b"], "hybrid")
    out["as_of_date"] = as_of.normalize()
    return out


def test_maven_dim_accounts_equals_pandas(maven):
    frames, actual = maven
    wanted = _expected_accounts(frames)
    assert sorted(actual.index) == sorted(wanted.index)  # 85 accounts, one row each
    actual = actual.loc[wanted.index]
    for column in [
        "industry", "size_band", "revenue_band", "region", "firmographic_segment",
        "value_tier", "growth_trend", "lifecycle_stage", "motion",
    ]:  # fmt: skip
        pd.testing.assert_series_equal(
            actual[column], wanted[column], check_names=False, check_dtype=False
        )
    for column in ["trailing_12m_revenue_rc", "prior_12m_revenue_rc", "propensity_score"]:
        np.testing.assert_allclose(
            actual[column], wanted[column], rtol=1e-9, atol=1e-6, err_msg=column
        )
    assert (actual["propensity_cell_size"] == wanted["propensity_cell_size"]).all()
    assert (pd.to_datetime(actual["as_of_date"]) == wanted["as_of_date"]).all()


def test_maven_key_accounts_are_their_own_tier(maven):
    _, actual = maven
    revenue_accounts = (actual["trailing_12m_revenue_rc"] > 0).sum()
    key = actual[actual["value_tier"] == "key account"]
    assert len(key) == int(np.ceil(0.05 * revenue_accounts))
    assert key["is_key_account"].all()
    assert (
        key["trailing_12m_revenue_rc"].min()
        >= actual.loc[actual["value_tier"] != "key account", "trailing_12m_revenue_rc"].max()
    )
