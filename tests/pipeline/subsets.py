"""Any subset of exports publishes (issue 18.1): one home per subset, built from the real
files in ../shared/fixtures (slices of the large ones), each run end to end with the real
Dagster job. Each home publishes on its first run; the marts whose inputs did not land are
published empty with their columns and said so; three or more KPIs per home equal a pandas
computation from the landed files. A home whose input vanished after an accepted run still
blocks at the mart gate.

The tests are split over three modules, two subsets each, so that no module runs for more
than a few minutes (each home is one pipeline run): test_subsets_shop.py (orders, orders with
ad spend, and the collapse test), test_subsets_crm.py (Maven CRM; leads and deals without
accounts), test_subsets_web_ads.py (GA4 events; ad spend). Each imports the tests below and
declares its ``subset_run`` with :func:`subset_fixture`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.core.mart_inputs import empty_marts, entity_rows, mart_inputs
from pipelines.core.settings import DBT_PROJECT_DIR
from pipelines.reporting.summary import summarise
from tests.pipeline.runner import check_results, run_job

RETAIL = "uci_online_retail_ii_2009_2010/online_retail_II_2009-2010.parquet"
RETAIL_INVOICES = 300  # the first invoices of Online Retail II (Dec 2009): credit notes too
DEALS_EVERY = 4  # every 4th deal of Maven's sales_pipeline.csv (2,200 of 8,800, every stage)
ADS = [
    "fivetran_dbt_google_ads/campaign_stats_data.csv",
    "fivetran_dbt_facebook_ads/facebook_ads_basic_ad_data.csv",
    "fivetran_dbt_linkedin/linkedin_ad_analytics_by_campaign_data.csv",
]
MAVEN_ACCOUNTS = "maven_crm_sales_opportunities/accounts.csv"
MAVEN_DEALS = "maven_crm_sales_opportunities/sales_pipeline.csv"
SF_LEADS = "fivetran_dbt_salesforce/sf_lead_data.csv"
GA4 = "fivetran_dbt_ga4_export/event_data.csv"

# subset -> landed files (folder under landing/, fixture path; RETAIL is sliced)
SUBSETS = {
    "orders": [("shop", RETAIL)],
    "crm": [("crm", MAVEN_ACCOUNTS), ("crm", MAVEN_DEALS)],
    "leads_deals": [("crm", SF_LEADS), ("crm", MAVEN_DEALS)],
    "ads": [("ads", path) for path in ADS],
    "web": [("web", GA4)],
    "orders_ads": [("shop", RETAIL), *(("ads", path) for path in ADS)],
}


def _retail_slice(shared_fixtures: Path) -> pd.DataFrame:
    retail = pd.read_parquet(shared_fixtures / RETAIL)
    first = retail["Invoice"].drop_duplicates().head(RETAIL_INVOICES)
    return retail[retail["Invoice"].isin(first)].reset_index(drop=True)


def _deals_slice(shared_fixtures: Path) -> pd.DataFrame:
    deals = pd.read_csv(shared_fixtures / MAVEN_DEALS, dtype=str, keep_default_na=False)
    return deals.iloc[::DEALS_EVERY].reset_index(drop=True)


def _land(home: Path, subset: str, shared_fixtures: Path) -> None:
    for folder, path in SUBSETS[subset]:
        target = home / "landing" / folder / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        # the large files: same name and shape as the download (CRLF for Maven), fewer rows
        if path == RETAIL:
            _retail_slice(shared_fixtures).to_parquet(target, index=False)
        elif path == MAVEN_DEALS:
            _deals_slice(shared_fixtures).to_csv(target, index=False, lineterminator="\r\n")
        else:
            shutil.copy(shared_fixtures / path, target)


def _run_subset(subset: str, tmp_path_factory, shared_fixtures):
    home = tmp_path_factory.mktemp(f"subset_{subset}")
    _land(home, subset, shared_fixtures)
    return subset, home, run_job(home)


@pytest.fixture(scope="module")
def orders_run(tmp_path_factory, shared_fixtures):
    """The orders-only home, shared with the collapse test (which copies it)."""
    return _run_subset("orders", tmp_path_factory, shared_fixtures)


def subset_fixture(names: list[str]):
    """A module's ``subset_run`` fixture: one home per subset in ``names``, run once."""
    assert set(names) <= set(SUBSETS), names

    @pytest.fixture(scope="module", params=names)
    def subset_run(request, tmp_path_factory, shared_fixtures):
        if request.param == "orders":
            return request.getfixturevalue("orders_run")
        return _run_subset(request.param, tmp_path_factory, shared_fixtures)

    return subset_run


def _marts(home: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def _mart_rows(home: Path) -> dict[str, int]:
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        tables = con.execute("select table_name from information_schema.tables").fetchall()
        tables = [row[0] for row in tables]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}


# ------------------------------------------------------------------ every subset


def test_subset_publishes_on_its_first_run(subset_run):
    subset, home, result = subset_run
    failed = {name for name, passed in check_results(result).items() if not passed}
    assert result.success, (subset, sorted(failed))
    published = json.loads((home / "serving" / "_published.json").read_text())
    assert published["run_id"] == result.run_id
    # every mart is published, the empty ones with the columns of the warehouse's mart
    with (
        duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as wh,
        duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as serving,
    ):
        for mart in [*mart_inputs(), "kpi_definitions"]:
            built = wh.execute(f"describe marts.{mart}").fetchall()
            served = serving.execute(f"describe {mart}").fetchall()
            assert [c[:2] for c in served] == [c[:2] for c in built], mart


def test_marts_are_empty_exactly_when_their_inputs_did_not_land(subset_run):
    """The seed mart_inputs against a real run: a mart has rows iff one of its inputs has."""
    subset, home, _ = subset_run
    rows = entity_rows(home / "raw")
    published = _mart_rows(home)
    empty = empty_marts(rows)
    assert empty, subset  # every subset leaves some side without data
    for mart, inputs in mart_inputs().items():
        if mart in empty:
            assert published[mart] == 0, (subset, mart)
        else:
            assert published[mart] > 0, (subset, mart, {e: rows[e] for e in inputs})


def test_missing_sides_are_said_in_words(subset_run):
    subset, home, _ = subset_run
    rows = entity_rows(home / "raw")
    empty = empty_marts(rows)
    summary = summarise(home)
    for mart, reason in empty.items():
        assert f"{mart:<40} {reason}" in summary
    definitions = _marts(home, "select * from kpi_definitions").set_index("kpi_name")
    for kpi, row in definitions.iterrows():
        if row["mart"] in empty:
            assert not row["has_data"], (subset, kpi)
            assert row["data_note"] == f"{empty[row['mart']]}: {row['mart']} is empty"
    assert definitions["has_data"].notna().all()
    assert (definitions["data_note"].isna() == definitions["has_data"]).all()
    report = (home / "serving" / "report.html").read_text()
    for reason in set(empty.values()):
        assert reason in report


# ------------------------------------------------------------------ KPIs = pandas


def _fx_to_usd(days: pd.Series, currency: str) -> pd.Series:
    """The shipped FX seed's latest rate on or before each day (what the models document)."""
    seed = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "fx_rates.csv", parse_dates=["rate_date"])
    rates = seed[seed["currency"] == currency].sort_values("rate_date")
    frame = pd.DataFrame({"day": days.values, "i": range(len(days))}).sort_values("day")
    joined = pd.merge_asof(frame, rates[["rate_date", "rate_to_usd"]], left_on="day",
                           right_on="rate_date")  # fmt: skip
    return joined.sort_values("i")["rate_to_usd"].to_numpy()


def _retail_expected(shared_fixtures: Path) -> dict:
    retail = _retail_slice(shared_fixtures)
    at = (
        pd.to_datetime(retail["InvoiceDate"])
        .dt.tz_localize("Europe/London")
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
    )
    gbp = retail["Quantity"].astype(float) * retail["Price"]
    usd = gbp * _fx_to_usd(at.dt.normalize(), "GBP")
    month = at.dt.to_period("M").dt.to_timestamp()
    purchases = retail[retail["Customer ID"].notna() & ~retail["Invoice"].str.startswith("C")]
    per_invoice = (
        (purchases["Quantity"] * purchases["Price"]).groupby(
            [purchases["Customer ID"], purchases["Invoice"]]
        )
    ).sum()
    return {
        "orders": retail["Invoice"].nunique(),
        "buyers": per_invoice[per_invoice > 0].reset_index()["Customer ID"].nunique(),
        "net_revenue_by_month": usd.groupby(month).sum(),
    }


def _ads_expected(shared_fixtures: Path) -> pd.DataFrame:
    """Spend, impressions and clicks per platform in USD (the mappings' default currency)."""
    google = pd.read_csv(shared_fixtures / ADS[0])
    meta = pd.read_csv(shared_fixtures / ADS[1])
    linkedin = pd.read_csv(shared_fixtures / ADS[2])
    linkedin_cost = linkedin["cost_in_usd"].fillna(linkedin["cost_in_local_currency"])
    return pd.DataFrame(
        {
            "spend": [
                google["cost_micros"].sum() / 1e6,
                meta["spend"].sum(),
                linkedin_cost.sum(),
            ],
            "impressions": [
                google["impressions"].sum(),
                meta["impressions"].sum(),
                linkedin["impressions"].sum(),
            ],
            "clicks": [
                google["clicks"].sum(),
                meta["inline_link_clicks"].sum(),
                linkedin["clicks"].sum(),
            ],
        },
        index=pd.Index(["google_ads", "meta_ads", "linkedin_ads"], name="platform"),
    )


def _check_orders(home: Path, shared_fixtures: Path) -> dict:
    want = _retail_expected(shared_fixtures)
    assert _marts(home, "select count(*) as n from fct_orders")["n"][0] == want["orders"]
    assert _marts(home, "select count(*) as n from dim_customers")["n"][0] == want["buyers"]
    kpi = _marts(home, "select month_start, net_revenue from kpi_b2c_monthly")
    got = kpi.set_index(pd.to_datetime(kpi["month_start"]))["net_revenue"]
    wanted = want["net_revenue_by_month"]
    np.testing.assert_allclose(got.loc[wanted.index], wanted, rtol=1e-9)
    assert got.drop(wanted.index).fillna(0).eq(0).all()
    return want


def _check_ads(home: Path, shared_fixtures: Path) -> pd.DataFrame:
    want = _ads_expected(shared_fixtures)
    got = _marts(
        home,
        "select platform, sum(spend) as spend, sum(impressions) as impressions, "
        "sum(clicks) as clicks from fct_ad_spend_daily group by platform",
    ).set_index("platform")
    pd.testing.assert_frame_equal(
        got.loc[want.index].astype(float), want.astype(float), check_exact=False, rtol=1e-9
    )
    channel = _marts(
        home, "select sum(spend) as spend, sum(clicks) as clicks from kpi_channel_monthly"
    ).iloc[0]
    assert channel["spend"] == pytest.approx(want["spend"].sum(), rel=1e-9)
    assert channel["clicks"] == want["clicks"].sum()
    return want


def test_kpis_equal_pandas(subset_run, shared_fixtures):
    subset, home, _ = subset_run
    if subset == "orders":
        _check_orders(home, shared_fixtures)
    elif subset == "ads":
        want = _check_ads(home, shared_fixtures)
        campaigns = _marts(home, "select count(*) as n from dim_campaigns")["n"][0]
        google = pd.read_csv(shared_fixtures / ADS[0])
        meta = pd.read_csv(shared_fixtures / ADS[1])
        linkedin = pd.read_csv(shared_fixtures / ADS[2])
        assert campaigns == (
            google["id"].nunique() + meta["ad_id"].nunique() + linkedin["campaign_id"].nunique()
        )
        assert want["spend"].sum() > 0
    elif subset == "orders_ads":
        retail = _check_orders(home, shared_fixtures)
        ads = _check_ads(home, shared_fixtures)
        cac = _marts(
            home,
            "select sum(spend) / nullif(sum(new_customers), 0) as cac, "
            "sum(new_customers) as new_customers from kpi_channel_monthly",
        ).iloc[0]
        assert cac["new_customers"] == retail["buyers"]  # every buyer is new in the slice
        assert cac["cac"] == pytest.approx(ads["spend"].sum() / retail["buyers"], rel=1e-9)
    elif subset in ("crm", "leads_deals"):
        deals = _deals_slice(shared_fixtures).replace("", None)
        deals["close_value"] = deals["close_value"].astype(float)
        opps = _marts(
            home,
            "select count(*) as n, count(*) filter (where is_won) as won, "
            "count(*) filter (where is_closed) as closed from fct_opportunities",
        ).iloc[0]
        assert opps["n"] == len(deals)
        assert opps["won"] == (deals["deal_stage"] == "Won").sum()
        assert opps["closed"] == deals["deal_stage"].isin(["Won", "Lost"]).sum()
        won = deals[deals["deal_stage"] == "Won"]
        tcv = _marts(home, "select sum(tcv) as tcv from fct_opportunities where is_won")
        assert tcv["tcv"][0] == pytest.approx(won["close_value"].sum(), rel=1e-9)
        accounts = _marts(home, "select account_id from dim_accounts")["account_id"]
        if subset == "crm":
            maven = pd.read_csv(shared_fixtures / MAVEN_ACCOUNTS)
            assert set(maven["account"]) <= set(accounts)
        else:  # no account table: the accounts the deals name are accounts
            assert set(deals["account"].dropna()) <= set(accounts)
            leads = pd.read_csv(shared_fixtures / SF_LEADS)
            got = _marts(home, "select count(*) as n from fct_leads")["n"][0]
            assert got == (~leads["is_deleted"].astype(bool)).sum()
    elif subset == "web":
        events = pd.read_csv(shared_fixtures / GA4)
        sessions = events.groupby(["user_pseudo_id", "param_ga_session_id"]).ngroups
        got = _marts(home, "select count(*) as n from fct_sessions")["n"][0]
        assert got == sessions
        channel = _marts(home, "select sum(sessions) as n from kpi_channel_monthly")["n"][0]
        assert channel == sessions
        # sessions per day: a session's day is that of its first event (UTC)
        first = events.groupby(["user_pseudo_id", "param_ga_session_id"])["timestamp"].min()
        want = pd.to_datetime(first).dt.normalize().value_counts().sort_index()
        daily = _marts(
            home,
            "select date_day, sum(sessions) as sessions from kpi_channel_daily "
            "group by date_day having sum(sessions) > 0 order by date_day",
        )
        assert list(pd.to_datetime(daily["date_day"])) == list(want.index)
        assert list(daily["sessions"]) == list(want)
        assert _marts(home, "select count(*) as n from fct_ad_spend_daily")["n"][0] == 0


# ------------------------------------------------------------------ the headline


def test_headline_prints_a_dash_for_a_kpi_without_inputs(subset_run):
    subset, home, _ = subset_run
    headline = summarise(home).split("Headline KPIs:")[1]
    cac = next(line for line in headline.splitlines() if "Blended CAC" in line)
    rows = entity_rows(home / "raw")
    if rows["ad_spend_daily"] == 0 or rows["orders"] + rows["opportunities"] == 0:
        assert cac.split()[-1] == "—", (subset, cac)
    else:
        assert cac.split()[-1] != "—"


# ------------------------------------------------------------------ collapse still blocks


def test_inputs_that_vanish_after_an_accepted_run_still_block(orders_run, tmp_path):
    """Orders accepted once, then unloaded (the documented way: landing file, manifest and
    raw file removed, and the raw suite's baseline deleted so the raw layer accepts the
    shrink): the mart gate still blocks, because dim_customers had rows in the last accepted
    run, and the published copy stays."""
    _, accepted, first = orders_run
    assert first.success
    home = tmp_path / "home"
    shutil.copytree(accepted, home)  # the home holds no absolute path that matters
    published = (home / "serving" / "_published.json").read_text()
    for manifest in (home / "manifest").glob("*.json"):
        sha = manifest.stem
        for layer in ("raw", "quarantine"):
            for path in (home / layer).glob(f"*/{sha}*.parquet"):
                path.unlink()
        manifest.unlink()
    shutil.rmtree(home / "landing")
    (home / "landing").mkdir()
    (home / "state" / "quality" / "raw__orders.json").unlink()
    assert entity_rows(home / "raw")["orders"] == 0
    second = run_job(home)
    assert not second.success
    checks = check_results(second)
    assert checks["dim_customers :: gx_mart__dim_customers"] is False
    assert (home / "serving" / "_published.json").read_text() == published
