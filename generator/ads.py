"""Ad platforms: daily delivery per campaign, and the four vendor report writers."""

from __future__ import annotations

import calendar
from datetime import date

import numpy as np

from generator import reference as ref
from generator.common import N_DAYS, USD_RATE, WINDOW_START, Output, csv_text, day_date

PLATFORMS = ("google_ads", "meta_ads", "linkedin_ads", "tiktok_ads")
DUPLICATED_GOOGLE_MONTH = (2024, 6)
BAD_GOOGLE_MONTH = (2023, 9)
SESSION_RATE = 0.72  # share of ad clicks that start a tracked web session


def season(day_index: np.ndarray | int) -> np.ndarray:
    """Demand multiplier: growth over the window, Q4 peak, weekly pattern (mean ≈ 1)."""
    d = np.asarray(day_index)
    dates = np.datetime64(WINDOW_START) + d.astype("timedelta64[D]")
    month = (dates.astype("datetime64[M]").astype(int) % 12) + 1
    weekday = (dates.astype(int) + 3) % 7  # 0 = Monday
    yearly = np.select([month == 11, month == 12, month == 1], [1.45, 1.35, 0.8], 1.0)
    weekly = np.array([1.05, 1.05, 1.0, 1.0, 0.95, 0.9, 0.95])[weekday]
    growth = 0.85 + 0.3 * d / N_DAYS
    return yearly * weekly * growth


class AdDelivery:
    """Impressions, clicks and spend per campaign and day (arrays campaigns × days)."""

    def __init__(self, rng: np.random.Generator, scale: float):
        n_c = len(ref.CAMPAIGNS)
        days = np.arange(N_DAYS)
        dates = np.datetime64(WINDOW_START) + days.astype("timedelta64[D]")
        month = (dates.astype("datetime64[M]").astype(int) % 12) + 1
        weekday = (dates.astype(int) + 3) % 7
        self.active = np.zeros((n_c, N_DAYS), dtype=bool)
        expected = np.zeros((n_c, N_DAYS))
        for i, c in enumerate(ref.CAMPAIGNS):
            started = dates >= np.datetime64(c.start)
            self.active[i] = started & np.isin(month, c.active_months)
            b2b_week = np.where(weekday >= 5, 0.4, 1.15) if c.audience == "b2b" else 1.0
            noise = np.exp(rng.normal(0, 0.25, N_DAYS))
            expected[i] = c.daily_clicks * scale * season(days) * b2b_week * noise
        expected *= self.active
        self.clicks = rng.poisson(expected).astype(np.int64)
        ctr = np.array([c.ctr for c in ref.CAMPAIGNS])[:, None] * np.exp(
            rng.normal(0, 0.15, (n_c, N_DAYS))
        )
        self.impressions = np.where(
            self.active, np.maximum(self.clicks, np.round(expected / ctr)), 0
        ).astype(np.int64)
        cpc = np.array([c.cpc for c in ref.CAMPAIGNS])[:, None] * np.exp(
            rng.normal(0, 0.2, (n_c, N_DAYS))
        )
        self.spend = np.round(self.clicks * cpc, 2)
        # filled by the simulation: purchases / leads / revenue (USD) of the sessions per campaign
        self.purchases = np.zeros((n_c, N_DAYS), dtype=np.int64)
        self.leads = np.zeros((n_c, N_DAYS), dtype=np.int64)
        self.revenue_usd = np.zeros((n_c, N_DAYS))
        self._rng = rng

    def platform_conversions(self, i: int, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Platform-reported conversions and value (account currency): over-counted, noisy."""
        c = ref.CAMPAIGNS[i]
        base = self.purchases[i, days] + self.leads[i, days]
        conv = np.round(base * self._rng.uniform(1.0, 1.5, len(days)), 2)
        currency = ref.PLATFORM_ACCOUNT[c.platform][2]
        value = self.revenue_usd[i, days] / USD_RATE[currency]
        value = np.round(value * self._rng.uniform(1.0, 1.4, len(days)), 2)
        return conv, value


def _thousands(v: float, decimals: int) -> str:
    text = f"{v:,.{decimals}f}"
    return text


def _month_days(y: int, m: int) -> np.ndarray:
    first = (date(y, m, 1) - WINDOW_START).days
    return np.arange(first, first + calendar.monthrange(y, m)[1])


def write_month(out: Output, ads: AdDelivery, y: int, m: int) -> None:
    days = _month_days(y, m)
    _google(out, ads, y, m, days)
    _meta(out, ads, y, m, days)
    _linkedin(out, ads, y, m, days)
    _tiktok(out, ads, y, m, days)


def _campaigns(platform: str) -> list[int]:
    return [i for i, c in enumerate(ref.CAMPAIGNS) if c.platform == platform]


def _google(out: Output, ads: AdDelivery, y: int, m: int, days: np.ndarray) -> None:
    rel = f"ads/google_ads/Campaign report {y}-{m:02d}.csv"
    stats = out.stats(rel, "ad_spend_daily", "google_ads_ui_report")
    account, account_name, currency, _ = ref.PLATFORM_ACCOUNT["google_ads"]
    idx = _campaigns("google_ads")
    conv = {i: ads.platform_conversions(i, days) for i in idx}
    rows = []
    for k, d in enumerate(days.tolist()):
        for i in idx:
            c = ref.CAMPAIGNS[i]
            imp, clk, cost = ads.impressions[i, d], ads.clicks[i, d], ads.spend[i, d]
            rows.append([
                day_date(d).isoformat(), c.name, c.campaign_id, c.campaign_type, c.status,
                currency, _thousands(imp, 0), _thousands(clk, 0),
                f"{100 * clk / imp:.2f}%" if imp else " --",
                _thousands(cost / clk, 2) if clk else " --", _thousands(cost, 2),
                f"{conv[i][0][k]:.2f}", _thousands(conv[i][1][k], 2), account_name, account,
            ])  # fmt: skip
    stats.data_rows += len(rows)
    if (y, m) == BAD_GOOGLE_MONTH:
        bad = list(rows[len(rows) // 2])
        bad[2] = " --"
        rows.insert(len(rows) // 2 + 1, bad)
        stats.data_rows += 1
        stats.add_bad("missing_id")
    imp = int(ads.impressions[idx][:, days].sum())
    clk = int(ads.clicks[idx][:, days].sum())
    cost = float(ads.spend[idx][:, days].sum())
    conv_total = sum(float(conv[i][0].sum()) for i in idx)
    value_total = sum(float(conv[i][1].sum()) for i in idx)
    for label in ("Total: Campaigns", "Total: Account"):
        rows.append([
            label, " --", " --", " --", " --", currency, _thousands(imp, 0), _thousands(clk, 0),
            f"{100 * clk / imp:.2f}%" if imp else " --", _thousands(cost / clk, 2) if clk else " --",
            _thousands(cost, 2), f"{conv_total:.2f}", _thousands(value_total, 2), " --", " --",
        ])  # fmt: skip
    stats.summary_rows += 2
    start, end = day_date(int(days[0])), day_date(int(days[-1]))
    title = f'Campaign report\n"{start:%B} {start.day}, {y} - {end:%B} {end.day}, {y}"\n'
    header = (
        "Day,Campaign,Campaign ID,Campaign type,Campaign status,Currency code,Impr.,Clicks,CTR,"
        "Avg. CPC,Cost,Conversions,Conv. value,Account,Customer ID\n"
    )
    data = (title + header + csv_text(rows)).encode("utf-8")
    out.path(rel).write_bytes(data)
    if (y, m) == DUPLICATED_GOOGLE_MONTH:
        copy = f"ads/google_ads/Campaign report {y}-{m:02d} (1).csv"
        out.path(copy).write_bytes(data)
        twin = out.stats(copy, "ad_spend_daily", "google_ads_ui_report")
        twin.data_rows, twin.summary_rows, twin.identical_to = stats.data_rows, 2, rel


def _meta(out: Output, ads: AdDelivery, y: int, m: int, days: np.ndarray) -> None:
    start, end = day_date(int(days[0])), day_date(int(days[-1]))
    rel = f"ads/meta_ads/Segmart-Demo-Campaigns-{start:%b}-1-{y}-{end:%b}-{end.day}-{y}.csv"
    stats = out.stats(rel, "ad_spend_daily", "meta_ads_manager")
    account, account_name, _, _ = ref.PLATFORM_ACCOUNT["meta_ads"]
    idx = _campaigns("meta_ads")
    conv = {i: ads.platform_conversions(i, days) for i in idx}
    rows = []
    totals = np.zeros(6)
    attribution = "7-day click or 1-day view"
    for k, d in enumerate(days.tolist()):
        for i in idx:
            c = ref.CAMPAIGNS[i]
            imp, clk, cost = ads.impressions[i, d], ads.clicks[i, d], ads.spend[i, d]
            if imp == 0:
                continue  # Meta omits rows without delivery
            reach = int(imp * 0.82)
            purchases, value = conv[i][0][k], conv[i][1][k]
            totals += (imp, reach, clk, cost, purchases, value)
            rows.append([
                start.isoformat(), end.isoformat(), day_date(d).isoformat(), account,
                account_name, c.name, c.campaign_id, str(imp), str(reach), str(clk) if clk else "",
                f"{100 * clk / imp:.6f}" if clk else "", f"{cost / clk:.6f}" if clk else "",
                f"{cost:.2f}", f"{purchases:g}" if purchases else "",
                f"{value:.2f}" if purchases else "", attribution,
            ])  # fmt: skip
    imp, reach, clk, cost, purchases, value = totals.tolist()
    total = [
        start.isoformat(), end.isoformat(), "", account, account_name, "", "", f"{imp:.0f}",
        f"{reach:.0f}", f"{clk:.0f}", f"{100 * clk / imp:.6f}" if imp else "",
        f"{cost / clk:.6f}" if clk else "", f"{cost:.2f}", f"{purchases:g}", f"{value:.2f}",
        attribution,
    ]  # fmt: skip
    stats.data_rows += len(rows)
    stats.summary_rows += 1
    header = (
        "Reporting starts,Reporting ends,Day,Account ID,Account name,Campaign name,Campaign ID,"
        "Impressions,Reach,Link clicks,CTR (link click-through rate),"
        "CPC (cost per link click) (EUR),Amount spent (EUR),Purchases,"
        "Purchases conversion value,Attribution setting\n"
    )
    text = "\ufeff" + header + csv_text([total] + rows)
    out.path(rel).write_bytes(text.encode("utf-8"))


def _linkedin(out: Output, ads: AdDelivery, y: int, m: int, days: np.ndarray) -> None:
    rel = f"ads/linkedin_ads/campaign_performance_report_{y}-{m:02d}.csv"
    stats = out.stats(rel, "ad_spend_daily", "linkedin_campaign_manager")
    account, account_name, currency, _ = ref.PLATFORM_ACCOUNT["linkedin_ads"]
    idx = _campaigns("linkedin_ads")
    conv = {i: ads.platform_conversions(i, days) for i in idx}
    rows = []
    for k, d in enumerate(days.tolist()):
        dd = day_date(d)
        for i in idx:
            c = ref.CAMPAIGNS[i]
            imp, clk, cost = ads.impressions[i, d], ads.clicks[i, d], ads.spend[i, d]
            rows.append([
                f"{dd.month}/{dd.day}/{dd.year}", account_name, currency, "Always-on B2B",
                c.campaign_id, c.name, c.campaign_type, "PAUSED" if c.status == "Paused" else "ACTIVE",
                f"{cost:.2f}", str(imp), str(clk), f"{clk / imp:.4f}" if imp else "0",
                f"{cost / clk:.2f}" if clk else "", f"{conv[i][0][k]:g}", str(ads.leads[i, d]),
            ])  # fmt: skip
    stats.data_rows += len(rows)
    start, end = day_date(int(days[0])), day_date(int(days[-1]))
    preamble = [
        ["Campaign Performance Report (in UTC)"],
        [f"Report Start: {start.month}/1/{y}, 12:00 AM"],
        [f"Report End: {end.month}/{end.day}/{y}, 11:59 PM"],
        ["Date Generated: 1/1/2025, 9:00 AM"],
        [f"Account: {account_name} ({account})"],
    ]
    header = [
        "Start Date (in UTC)", "Account Name", "Currency", "Campaign Group Name", "Campaign ID",
        "Campaign Name", "Campaign Type", "Campaign Status", "Total Spent", "Impressions",
        "Clicks", "Click Through Rate", "Average CPC", "Conversions", "Leads",
    ]  # fmt: skip
    text = csv_text(preamble + [header] + rows, delimiter="\t", crlf=True)
    out.path(rel).write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))


def _tiktok(out: Output, ads: AdDelivery, y: int, m: int, days: np.ndarray) -> None:
    start, end = day_date(int(days[0])), day_date(int(days[-1]))
    rel = f"ads/tiktok_ads/tiktok_campaign_report_{start:%Y%m%d}-{end:%Y%m%d}.csv"
    stats = out.stats(rel, "ad_spend_daily", "tiktok_ads_manager")
    _, _, currency, _ = ref.PLATFORM_ACCOUNT["tiktok_ads"]
    idx = _campaigns("tiktok_ads")
    conv = {i: ads.platform_conversions(i, days) for i in idx}
    rows = []
    for k, d in enumerate(days.tolist()):
        for i in idx:
            c = ref.CAMPAIGNS[i]
            imp, clk, cost = ads.impressions[i, d], ads.clicks[i, d], ads.spend[i, d]
            n_conv, value = conv[i][0][k], conv[i][1][k]
            rows.append([
                day_date(d).isoformat(), c.name, c.campaign_id, currency, f"{cost:.2f}", str(imp),
                str(clk), f"{100 * clk / imp:.2f}%" if imp else "-",
                f"{cost / clk:.2f}" if clk else "-", f"{n_conv:g}",
                f"{value:.2f}" if n_conv else "-",
            ])  # fmt: skip
    stats.data_rows += len(rows)
    header = (
        "By Day,Campaign name,Campaign ID,Currency,Cost,Impressions,Clicks (destination),"
        "CTR (destination),CPC (destination),Conversions,Total purchase value\n"
    )
    out.path(rel).write_bytes((header + csv_text(rows)).encode("utf-8"))
