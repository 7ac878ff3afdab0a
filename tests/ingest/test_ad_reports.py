"""Period-grain ad reports as the platforms' UIs download them (issue 19, point 1).

Files are written in the real shapes (tests/ingest/ad_report_shapes.py) and loaded through
the shipped mappings only, no user YAML. Expected figures come from each file's own total
row (read with ``csv``) or from plain pandas arithmetic written here, never from the models.

Rounding of prorated days (the rule of int_ad_spend_prorated): day i of n gets
round(total·i/n, 2) − round(total·(i−1)/n, 2), so the days of a period sum back exactly to
the period total and the first k days of a period sum to round(total·k/n, 2). SQL's round
goes half away from zero (Python's ``round`` goes half to even): ``_round`` below.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.ingest import run_ingest
from tests.ingest.ad_report_shapes import (
    GOOGLE_JUNE,
    as_csv_for_excel,
    google_campaign_report,
    meta_export,
    meta_no_data,
    total_row_spend,
)
from tests.ingest.conftest import land, quarantine, raw

BREAKDOWNS = [None, "Age", "Gender", "Impression device", "Region"]


def _loaded(home: Path) -> dict:
    report = run_ingest(home)
    for f in report.files:
        assert f.rows_read == f.rows_loaded + f.rows_quarantined, f.file
    return {f.file: f for f in report.files}


def _rows(text: str) -> list[list[str]]:
    text = text.lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text), delimiter="\t" if "\t" in text else ","))


# ------------------------------------------------------------------ ingest: Google Ads


@pytest.mark.parametrize("variant", ["csv", "csv-for-excel"], ids=["utf8-comma", "utf16-tab"])
def test_google_campaign_report_without_day_loads_as_a_period(home, variant):
    text = google_campaign_report("June 1, 2024 - June 30, 2024")
    body = text if variant == "csv" else as_csv_for_excel(text)
    land(home, "ads/Campaign report 2024-06.csv", body)
    [f] = _loaded(home).values()
    assert f.status == "loaded", f.reason
    assert f.mapping == "google_ads_ui_campaigns_period"
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (6, 6, 0)
    assert f.rows_skipped["title rows above the header"] == 2
    assert sum(v for k, v in f.rows_skipped.items() if k.startswith("footer")) == 2  # Total:
    df = raw(home, "ad_spend_daily")
    # spend of the file = its own "Total: Account" row
    assert df["spend"].sum() == pytest.approx(total_row_spend(text, "Cost"), abs=0.005)
    assert set(df["period_start"].astype(str)) == {"2024-06-01"}
    assert set(df["period_end"].astype(str)) == {"2024-06-30"}
    assert (df["spend_date"] == df["period_start"]).all()
    # no Campaign ID column: the campaign name is the id; the type is kept for channels
    by_id = df.set_index("campaign_id")
    assert set(by_id.index) == {r[1] for r in GOOGLE_JUNE}
    assert by_id.loc["PMax - All products", "campaign_type"] == "Performance Max"
    assert by_id.loc["Brand Search", "impressions"] == 25881  # "25,881"
    assert by_id.loc["Brand Search", "spend"] == pytest.approx(4838.80)  # "4,838.80"
    assert set(df["currency"]) == {"INR"} and set(df["platform"]) == {"google_ads"}


def test_google_all_time_report_is_quarantined_naming_the_export_setting(home):
    text = google_campaign_report("All time")
    land(home, "ads/Campaign report all time.csv", text)
    [f] = _loaded(home).values()
    assert f.status == "loaded" and f.mapping == "google_ads_ui_campaigns_period"
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (6, 0, 6)
    q = quarantine(home, "ad_spend_daily")
    assert len(q) == 6 and q["reason"].nunique() == 1
    reason = q["reason"].iloc[0]
    assert reason.startswith("missing required spend_date")
    assert "Day segment" in reason and "date range" in reason and "All time" in reason
    assert raw(home, "ad_spend_daily").empty


def test_tiktok_report_without_dates_is_rejected_naming_the_export_setting(home):
    # TikTok writes no date range anywhere in a report without the By Day breakdown
    land(
        home,
        "tiktok_campaign_report.csv",
        "Campaign name,Campaign ID,Currency,Cost,Impressions,Clicks (destination)\n"
        "TT Prospecting,1790,USD,12.30,4000,40\n",
    )
    [f] = _loaded(home).values()
    assert f.status == "rejected"
    assert "required column spend_date" in f.reason and "Day segment" in f.reason


# ------------------------------------------------------------------ ingest: Meta Ads


@pytest.mark.parametrize("breakdown", BREAKDOWNS, ids=lambda b: b or "plain")
def test_meta_export_with_reporting_period_loads(home, breakdown):
    text = meta_export("2024-09-01", "2024-09-30", breakdown)
    land(home, f"ads/Segmart-Ads-Campaigns-{breakdown or 'plain'}.csv", text)
    [f] = _loaded(home).values()
    assert f.status == "loaded", f.reason
    assert f.mapping == "meta_ads_ui_campaigns_period"
    data_rows = len(_rows(text)) - 2  # header and the account-total row
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (data_rows, data_rows, 0)
    assert f.rows_skipped == {"summary rows (Campaign ID, Campaign name empty)": 1}
    df = raw(home, "ad_spend_daily")
    # breakdown rows of a campaign are one raw row: the campaign's total
    assert sorted(df["campaign_id"]) == ["Diwali Prospecting", "Retargeting - Website"]
    assert df["spend"].sum() == pytest.approx(
        total_row_spend(text, "Amount spent (INR)"), abs=0.005
    )
    assert set(df["currency"]) == {"INR"}  # from "Amount spent (INR)"
    assert set(df["period_start"].astype(str)) == {"2024-09-01"}
    assert set(df["period_end"].astype(str)) == {"2024-09-30"}


def test_meta_no_data_export_loads_nothing(home):
    land(home, "ads/Segmart-Ads-Campaigns-empty.csv", meta_no_data("2024-09-01", "2024-09-30"))
    [f] = _loaded(home).values()
    assert f.status == "loaded" and f.mapping == "meta_ads_ui_campaigns_period"
    assert (f.rows_read, f.rows_loaded) == (0, 0)
    assert f.rows_skipped == {"footer/summary rows (No data available.)": 1}


def test_readme_example_mappings_check(home):
    """docs/guide.md "Point segmart at your own exports": `segmart mappings check` on the file the
    example names (`landing/ads/"Campaign report 2024-06.csv"`) finds the shipped mapping."""
    from pipelines.cli import main

    path = land(
        home,
        "ads/Campaign report 2024-06.csv",
        google_campaign_report("June 1, 2024 - June 30, 2024"),
    )
    result = CliRunner().invoke(main, ["mappings", "check", str(path), "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "google_ads_ui_campaigns_period" in result.output


# ------------------------------------------------------------------ the real job

JUNE = "June 1, 2024 - June 30, 2024"
JULY_AUG = "Jul 20, 2024 - Aug 9, 2024"  # crosses a month boundary: 12 July + 9 August days
# a Day-segmented download of one campaign for three days of June: finer than the June report
DAILY_BRAND = (
    "Campaign report\n"
    "June 1, 2024 - June 3, 2024\n"
    "Day,Campaign,Campaign type,Impr.,Clicks,Cost,Currency code\n"
    '2024-06-01,Brand Search,Search,"1,001",40,170.25,INR\n'
    "2024-06-02,Brand Search,Search,950,38,160.10,INR\n"
    "2024-06-03,Brand Search,Search,990,41,149.65,INR\n"
    'Total: Account, --, --,"2,941",119,480.00,INR\n'
)
# July/August report: other figures than June (campaigns scaled)
JULY_ROWS = [(*r[:4], r[4] * 2, r[5] * 2, round(r[6] * 1.37, 2), r[7]) for r in GOOGLE_JUNE]


def _ads_home(home: Path) -> dict[str, str]:
    files = {
        "ads/Campaign report 2024-06.csv": google_campaign_report(JUNE),
        # the same June report downloaded again as "CSV for Excel": other bytes, same spend
        "ads/Campaign report (1).csv": as_csv_for_excel(google_campaign_report(JUNE)),
        "ads/Campaign report 2024-07.csv": as_csv_for_excel(
            google_campaign_report(JULY_AUG, JULY_ROWS)
        ),
        "ads/Campaign report by day.csv": DAILY_BRAND,
        "ads/Campaign report all time.csv": google_campaign_report("All time"),
        "ads/meta/no-data.csv": meta_no_data("2024-09-01", "2024-09-30"),
    }
    for b in BREAKDOWNS:
        files[f"ads/meta/Segmart-Ads-{b or 'plain'}-Sep-1-2024-Sep-30-2024.csv"] = meta_export(
            "2024-09-01", "2024-09-30", b
        )
    for name, content in files.items():
        land(home, name, content)
    return files


@pytest.fixture(scope="module")
def ads_run(tmp_path_factory):
    from tests.pipeline.runner import check_results, run_job

    home = tmp_path_factory.mktemp("ads_home")
    (home / "landing").mkdir()
    files = _ads_home(home)
    result = run_job(home)
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        fct = _iso_dates(con.execute("select * from fct_ad_spend_daily").df())
        kpi = _iso_dates(con.execute("select * from kpi_channel_monthly").df())
        campaigns = _iso_dates(con.execute("select * from dim_campaigns").df())
    return home, files, result, check_results(result), fct, kpi, campaigns


def _iso_dates(df: pd.DataFrame) -> pd.DataFrame:
    """Date columns as 'YYYY-MM-DD' strings (None when null), whatever pandas made of them."""
    for col in df.columns:
        if col.endswith(("_date", "_start", "_end", "_month")):
            df[col] = pd.to_datetime(df[col]).dt.strftime("%Y-%m-%d").where(df[col].notna())
    return df


def _text(content) -> str:
    return content.decode("utf-16-le") if isinstance(content, bytes) else content


def _round(value: float, decimals: int) -> float:
    """SQL's round(): half away from zero, on the value scaled by 10^decimals."""
    scale = 10**decimals
    return math.copysign(math.floor(abs(value) * scale + 0.5), value) / scale


def _day_shares(total: float, first: date, last: date) -> dict[date, float]:
    """The documented spread, computed here: day i of n = round(t·i/n, 2) − round(t·(i−1)/n, 2)."""
    n = (last - first).days + 1
    return {
        first + timedelta(days=i - 1): _round(total * i / n, 2) - _round(total * (i - 1) / n, 2)
        for i in range(1, n + 1)
    }


def _expected_days(files: dict) -> pd.DataFrame:
    """Expected fct rows (platform, campaign, day, spend in INR), from the files alone.

    Google: rows of each period report (the re-downloaded June counted once), spread over the
    days of the title line's range; the Day-segmented file's days replace the June share of
    those days (the finer grain wins). Meta: the plain report, which every breakdown file
    repeats (the breakdown files must add nothing).
    """
    out = {}
    periods = [
        (JUNE, date(2024, 6, 1), date(2024, 6, 30), "ads/Campaign report 2024-06.csv"),
        (JULY_AUG, date(2024, 7, 20), date(2024, 8, 9), "ads/Campaign report 2024-07.csv"),
    ]
    for _, first, last, name in periods:
        rows = _rows(_text(files[name]))
        header = rows[2]
        for row in rows[3:]:
            if row[0].startswith("Total:"):
                continue
            rec = dict(zip(header, row, strict=True))
            spend = float(rec["Cost"].replace(",", ""))
            for day, share in _day_shares(spend, first, last).items():
                out[("google_ads", rec["Campaign"], day)] = share
    for row in csv.DictReader(io.StringIO(DAILY_BRAND.split("\n", 2)[2])):
        if not row["Day"].startswith("Total"):
            day = date.fromisoformat(row["Day"])
            out[("google_ads", row["Campaign"], day)] = float(row["Cost"])
    meta = [
        r for r in csv.DictReader(io.StringIO(files[next(f for f in files if "plain" in f)][1:]))
    ]
    for rec in meta:
        if rec["Campaign name"]:
            spend = float(rec["Amount spent (INR)"])
            for day, share in _day_shares(spend, date(2024, 9, 1), date(2024, 9, 30)).items():
                out[("meta_ads", rec["Campaign name"], day)] = share
    return pd.DataFrame(
        [(p, c, d.isoformat(), s) for (p, c, d), s in out.items()],
        columns=["platform", "campaign_id", "spend_date", "expected"],
    )


@pytest.mark.slow
def test_ads_only_home_publishes_with_checks(ads_run):
    home, _, result, checks, *_ = ads_run
    assert result.success
    assert (home / "serving" / "marts.duckdb").exists()
    spend_checks = {k: v for k, v in checks.items() if "spend" in k}
    assert spend_checks, sorted(checks)
    assert all(spend_checks.values()), spend_checks
    failed_errors = [k for k, v in checks.items() if not v and "gx_raw__" not in k]
    assert not failed_errors, failed_errors


@pytest.mark.slow
def test_every_day_of_spend_matches_the_files(ads_run):
    _, files, _, _, fct, _, _ = ads_run
    expected = _expected_days(files)
    got = fct[["platform", "campaign_id", "spend_date", "spend_original", "is_prorated"]]
    both = expected.merge(got, how="outer", on=["platform", "campaign_id", "spend_date"])
    assert both["expected"].notna().all() and both["spend_original"].notna().all(), both[
        both.isna().any(axis=1)
    ]
    assert (both["expected"] - both["spend_original"]).abs().max() < 1e-6
    # the three days of the Day-segmented download are reported days, the rest prorated
    daily = both[both["is_prorated"] == False]  # noqa: E712
    assert sorted(daily["spend_date"]) == ["2024-06-01", "2024-06-02", "2024-06-03"]


@pytest.mark.slow
def test_prorated_days_sum_back_to_each_period_total(ads_run):
    _, files, _, _, fct, _, _ = ads_run
    prorated = fct[fct["is_prorated"]]
    sums = prorated.groupby(["platform", "campaign_id", "period_start", "period_end"]).agg(
        spend=("spend_original", "sum"), days=("spend_date", "nunique")
    )
    # July/August: every campaign's 21 days sum back to the row of the report, to the cent
    rows = _rows(_text(files["ads/Campaign report 2024-07.csv"]))
    july = {r[1]: float(r[9].replace(",", "")) for r in rows[3:] if not r[0].startswith("Total")}
    for campaign, total in july.items():
        got = sums.loc[("google_ads", campaign, "2024-07-20", "2024-08-09")]
        assert got["days"] == 21
        assert round(got["spend"], 2) == round(total, 2), campaign
    # Meta: the period total of every campaign once, however many breakdown files repeat it
    meta = sums.loc["meta_ads"]
    plain = next(f for f in files if "plain" in f)
    assert meta["spend"].sum() == pytest.approx(
        total_row_spend(files[plain], "Amount spent (INR)"), abs=0.005
    )
    assert (meta["days"] == 30).all()


@pytest.mark.slow
def test_monthly_kpi_splits_a_period_by_its_days(ads_run):
    _, files, _, _, fct, kpi, _ = ads_run
    rows = _rows(_text(files["ads/Campaign report 2024-07.csv"]))
    july = [(r[1], float(r[9].replace(",", ""))) for r in rows[3:] if not r[0].startswith("Total")]
    by_month = (
        fct[fct["period_start"] == "2024-07-20"].groupby("spend_month")["spend_original"].sum()
    )
    # 12 of the 21 days are in July: round(t·12/21, 2) by the documented rounding
    expect_july = sum(_round(t * 12 / 21, 2) for _, t in july)
    expect_august = sum(t for _, t in july) - expect_july
    assert by_month["2024-07-01"] == pytest.approx(expect_july, abs=1e-6)
    assert by_month["2024-08-01"] == pytest.approx(expect_august, abs=0.005)
    # the monthly KPI mart carries the same split (reporting currency), per channel
    fct_month = fct.groupby(["spend_month", "channel"])["spend"].sum()
    kpi_month = kpi.groupby(["month_start", "channel"])["spend"].sum()
    for month in ("2024-07-01", "2024-08-01"):
        assert kpi_month.loc[month].sum() > 0
        for channel, spend in fct_month.loc[month].items():
            assert kpi_month.loc[(month, channel)] == pytest.approx(spend, abs=0.005)


@pytest.mark.slow
def test_campaign_type_picks_the_channel(ads_run):
    *_, fct, _, campaigns = ads_run
    google = fct[fct["platform"] == "google_ads"].groupby("campaign_type")["channel"].unique()
    assert {k: list(v) for k, v in google.items()} == {
        "Search": ["Paid Search"],
        "Performance Max": ["Cross-network"],
        "Demand Gen": ["Cross-network"],
        "Display": ["Display"],
        "Video": ["Paid Video"],
        "Shopping": ["Paid Shopping"],
    }
    assert set(fct.loc[fct["platform"] == "meta_ads", "channel"]) == {"Paid Social"}
    dim = campaigns.set_index("campaign_key")
    assert dim.loc["google_ads|YouTube Awareness", "campaign_type"] == "Video"
    assert dim.loc["google_ads|Brand Search", "first_spend_date"] == "2024-06-01"
    assert dim.loc["google_ads|Brand Search", "last_spend_date"] == "2024-08-09"


@pytest.mark.slow
def test_all_time_rows_are_quarantined_in_the_run(ads_run):
    home, files, *_ = ads_run
    q = quarantine(home, "ad_spend_daily")
    text = files["ads/Campaign report all time.csv"]
    data_rows = len(_rows(text)) - 3 - 2  # title, range, header; two Total: rows
    assert len(q) == data_rows
    assert q["_source_file"].unique().tolist() == ["ads/Campaign report all time.csv"]
    assert q["reason"].str.contains("Day segment").all()
