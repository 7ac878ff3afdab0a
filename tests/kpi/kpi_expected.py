"""The KPI answers for kpi_dataset, worked out with plain pandas from the raw frames.

Independent of the SQL: FX from the seed CSV, the channel of each hand-made session from
its own table (kpi_dataset.CHANNEL_OF_TRAFFIC), attribution by walking each conversion's
touches in Python. Money in USD (the default reporting currency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from kpi_dataset import (
    CHANNEL_OF_PLATFORM,
    CHANNEL_OF_TRAFFIC,
    SESSIONS,
    ad_spend_files,
    contacts,
    leads,
    nps_responses,
    opportunities,
    orders,
)

from pipelines.core.settings import DBT_PROJECT_DIR

LOOKBACK_DAYS = 30
DEFAULT_MARGIN = 0.6
MAX_LIFESPAN_YEARS = 5
CHURN_QUANTILE = 0.9


def month(ts) -> pd.Timestamp:
    return pd.Timestamp(ts).to_period("M").to_timestamp()


# --- FX -------------------------------------------------------------------------------


def _fx_table() -> pd.DataFrame:
    rates = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "fx_rates.csv", parse_dates=["rate_date"])
    return rates.sort_values("rate_date")


FX = _fx_table()


def to_usd(amount: float, currency: str, on) -> float:
    """The seed's latest rate on or before the date (rates hold until the next one)."""
    if currency == "USD":
        return amount
    rows = FX[(FX["currency"] == currency) & (FX["rate_date"] <= pd.Timestamp(on))]
    return amount * rows["rate_to_usd"].iloc[-1]


# --- facts ----------------------------------------------------------------------------


def spend() -> pd.DataFrame:
    """Deduplicated spend (latest ingest per key wins) in USD with its channel."""
    raw = pd.concat(ad_spend_files(), ignore_index=True)
    key = ["spend_date", "platform", "ad_account_id", "campaign_id"]
    latest = raw.sort_values("_ingested_at").drop_duplicates(key, keep="last").copy()
    latest["spend_usd"] = [
        to_usd(s, c, d)
        for s, c, d in zip(latest["spend"], latest["currency"], latest["spend_date"], strict=True)
    ]
    latest["channel"] = latest["platform"].map(CHANNEL_OF_PLATFORM)
    latest["month"] = latest["spend_date"].map(month)
    return latest


def sessions() -> pd.DataFrame:
    frame = pd.DataFrame(SESSIONS, columns=["person", "at", "source", "medium", "campaign"])
    frame["at"] = pd.to_datetime(frame["at"])
    frame["channel"] = [
        CHANNEL_OF_TRAFFIC[(_none(s), _none(m))]
        for s, m in zip(frame["source"], frame["medium"], strict=True)
    ]
    return frame


def _none(value):
    return None if pd.isna(value) else value


def order_facts() -> pd.DataFrame:
    lines = orders().copy()
    lines["ordered_at"] = pd.to_datetime(lines["ordered_at"])
    lines["net_usd"] = [
        to_usd(a, c, d)
        for a, c, d in zip(lines["net_amount"], lines["currency"], lines["ordered_at"], strict=True)
    ]
    lines["gp_usd"] = [
        to_usd(a - cost, c, d) if not pd.isna(cost) else to_usd(a, c, d) * DEFAULT_MARGIN
        for a, cost, c, d in zip(
            lines["net_amount"],
            lines["cost_amount"],
            lines["currency"],
            lines["ordered_at"],
            strict=True,
        )
    ]
    grouped = lines.groupby("order_id").agg(
        customer_id=("customer_id", "first"),
        ordered_at=("ordered_at", "min"),
        net_revenue=("net_usd", "sum"),
        gross_sales=("net_usd", lambda s: s[s > 0].sum()),
        returns_amount=("net_usd", lambda s: -s[s < 0].sum()),
        gross_profit=("gp_usd", "sum"),
        all_returns=("is_return", "all"),
        utm_source=("utm_source", "first"),
        utm_medium=("utm_medium", "first"),
    )
    grouped["is_purchase"] = ~grouped["all_returns"] & (grouped["net_revenue"] > 0)
    grouped["month"] = grouped["ordered_at"].map(month)
    purchases = grouped[grouped["is_purchase"] & grouped["customer_id"].notna()]
    first = purchases.sort_values("ordered_at").groupby("customer_id").head(1).index
    grouped["is_first_order"] = grouped.index.isin(first)
    return grouped.reset_index()


def deal_facts() -> pd.DataFrame:
    deals = opportunities().copy()
    for column in ("created_at", "closed_at"):
        deals[column] = pd.to_datetime(deals[column])
    deals["tcv"] = [
        to_usd(a, c, closed if not pd.isna(closed) else created)
        for a, c, closed, created in zip(
            deals["amount"], deals["currency"], deals["closed_at"], deals["created_at"], strict=True
        )
    ]
    deals["acv"] = deals["tcv"] / (deals["contract_months"] / 12)
    deals["cycle_days"] = (
        deals["closed_at"].dt.normalize() - deals["created_at"].dt.normalize()
    ).dt.days
    won = deals[deals["is_won"]].sort_values("closed_at")
    deals["is_first_won_deal"] = deals["opportunity_id"].isin(
        won.groupby("account_id").head(1)["opportunity_id"]
    )
    return deals


# --- attribution (first touch and last non-direct) --------------------------------------


@dataclass
class Conversion:
    kind: str  # order, won_deal, lead
    conversion_id: str
    converted_at: pd.Timestamp
    window_from: pd.Timestamp  # touches from this date's midnight
    persons: set
    revenue: float
    is_new_customer: bool
    own_channel: str | None


def _touches(conv: Conversion, all_sessions: pd.DataFrame) -> pd.DataFrame:
    start = conv.window_from.normalize() - pd.Timedelta(days=LOOKBACK_DAYS)
    hits = all_sessions[
        all_sessions["person"].isin(conv.persons)
        & (all_sessions["at"] >= start)
        & (all_sessions["at"] <= conv.converted_at)
    ]
    return hits.sort_values("at")


def credited_channel(conv: Conversion, model: str, all_sessions: pd.DataFrame) -> str:
    touches = _touches(conv, all_sessions)
    if touches.empty:
        return conv.own_channel or "Unassigned"
    if model == "first_touch":
        return touches["channel"].iloc[0]
    non_direct = touches[touches["channel"] != "Direct"]
    return (non_direct if not non_direct.empty else touches)["channel"].iloc[-1]


def _utm_channel(source, medium) -> str | None:
    if pd.isna(source) and pd.isna(medium):
        return None
    return CHANNEL_OF_TRAFFIC[(_none(source), _none(medium))]


def conversions() -> list[Conversion]:
    people_of_account = contacts().groupby("account_id")["contact_id"].apply(set).to_dict()
    lead_frame = leads()
    lead_channel = {
        row.converted_opportunity_id: _utm_channel(row.utm_source, row.utm_medium)
        for row in lead_frame.itertuples()
        if row.converted_opportunity_id
    }
    out = []
    for row in order_facts().itertuples():
        if row.is_purchase:
            out.append(Conversion(
                "order", row.order_id, row.ordered_at, row.ordered_at,
                {row.customer_id} if row.customer_id else set(), row.net_revenue,
                row.is_first_order, _utm_channel(row.utm_source, row.utm_medium),
            ))  # fmt: skip
    for row in deal_facts().itertuples():
        if row.is_won:
            persons = people_of_account.get(row.account_id, set()) | {row.contact_id}
            out.append(Conversion(
                "won_deal", row.opportunity_id, row.closed_at, row.created_at, persons,
                row.tcv, row.is_first_won_deal, lead_channel.get(row.opportunity_id),
            ))  # fmt: skip
    for row in lead_frame.itertuples():
        created = pd.Timestamp(row.created_at)
        out.append(Conversion(
            "lead", row.lead_id, created, created,
            {row.contact_id} if row.contact_id else set(), 0.0, False,
            _utm_channel(row.utm_source, row.utm_medium),
        ))  # fmt: skip
    return out


def channel_monthly() -> pd.DataFrame:
    """Expected kpi_channel_monthly: spend, sessions, leads, new customers, revenue, CAC, ROAS."""
    all_sessions = sessions()
    rows = []
    for conv in conversions():
        m = month(conv.converted_at)
        last = credited_channel(conv, "last_non_direct", all_sessions)
        rows.append({
            "month_start": m, "channel": last,
            "leads": int(conv.kind == "lead"),
            "attributed_revenue": conv.revenue, "new_customers": 0,
        })  # fmt: skip
        if conv.is_new_customer:
            first = credited_channel(conv, "first_touch", all_sessions)
            rows.append({
                "month_start": m, "channel": first, "leads": 0,
                "attributed_revenue": 0.0, "new_customers": 1,
            })  # fmt: skip
    for hit in all_sessions.itertuples():
        rows.append({
            "month_start": month(hit.at), "channel": hit.channel, "leads": 0,
            "attributed_revenue": 0.0, "new_customers": 0, "sessions": 1,
        })  # fmt: skip
    activity = pd.DataFrame(rows).fillna({"sessions": 0}).groupby(["month_start", "channel"]).sum()
    spent = spend().groupby(["month", "channel"])["spend_usd"].sum()
    spent.index.names = ["month_start", "channel"]
    out = activity.join(spent.rename("spend"), how="outer").fillna(0)
    out["cac"] = np.where(
        out["spend"] > 0, out["spend"] / out["new_customers"].replace(0, np.nan), np.nan
    )
    out["roas"] = np.where(out["spend"] > 0, out["attributed_revenue"] / out["spend"], np.nan)
    return out


# --- B2C ------------------------------------------------------------------------------


def churn_horizon_days() -> float:
    purchases = order_facts().query("is_purchase and customer_id.notna()")
    gaps = (
        purchases.sort_values("ordered_at")
        .groupby("customer_id")["ordered_at"]
        .apply(lambda s: s.dt.normalize().diff().dt.days.dropna())
    )
    return float(np.quantile(gaps.to_numpy(dtype=float), CHURN_QUANTILE))


def b2c_monthly(as_of: pd.Timestamp) -> pd.DataFrame:
    facts = order_facts()
    purchases = facts[facts["is_purchase"]]
    identified = purchases[purchases["customer_id"].notna()]
    horizon = math.floor(churn_horizon_days())
    months = pd.date_range(facts["month"].min(), month(as_of), freq="MS")
    # churn events: purchase followed by a gap > horizon (or none), churned on p + H + 1
    events = []
    for _, group in identified.sort_values("ordered_at").groupby("customer_id"):
        dates = list(group["ordered_at"].dt.normalize())
        for current, following in zip(dates, dates[1:] + [None], strict=True):
            if following is None or (following - current).days > horizon:
                events.append((current, current + pd.Timedelta(days=horizon + 1)))
    rows = []
    for m in months:
        nxt = m + pd.offsets.MonthBegin(1)
        in_month = facts[facts["month"] == m]
        bought = in_month[in_month["is_purchase"]]
        active = bought["customer_id"].dropna().unique()
        alive = identified[
            (identified["ordered_at"] < m)
            & ((m - identified["ordered_at"].dt.normalize()).dt.days <= horizon)
        ]["customer_id"].nunique()
        churned = sum(1 for last, on in events if m <= on < nxt and last < m and on <= as_of)
        window = identified[
            (identified["month"] <= m) & (identified["month"] > m - pd.DateOffset(months=12))
        ]
        all_window = facts[
            facts["customer_id"].notna()
            & (facts["month"] <= m)
            & (facts["month"] > m - pd.DateOffset(months=12))
        ]
        rows.append({
            "month_start": m,
            "orders": len(bought),
            "net_revenue": in_month["net_revenue"].sum(),
            "active_customers": len(active),
            "alive": alive, "churned": churned,
            "active_t12": window["customer_id"].nunique(),
            "gross_profit_t12": all_window["gross_profit"].sum(),
        })  # fmt: skip
    out = pd.DataFrame(rows).set_index("month_start")
    out["aov"] = out["net_revenue"] / out["orders"].replace(0, np.nan)
    out["churn_rate"] = out["churned"] / out["alive"].replace(0, np.nan)
    pooled = (
        out["churned"].rolling(12, min_periods=1).sum()
        / out["alive"].rolling(12, min_periods=1).sum()
    )
    lifespan = np.where(
        pooled > 0, np.minimum(1 / (12 * pooled), MAX_LIFESPAN_YEARS), MAX_LIFESPAN_YEARS
    )
    out["lifespan_years"] = lifespan
    out["ltv"] = out["gross_profit_t12"] / out["active_t12"].replace(0, np.nan) * lifespan
    return out


def segment_unit_economics(segment_of: dict, as_of: pd.Timestamp) -> pd.DataFrame:
    """Expected unit economics of kpi_segment_monthly for one customer segmentation.

    ``segment_of`` maps customer_id → segment. Members: customers from the month of their
    first purchase to the as-of month. A customer's acquisition cost: the expected CAC of its
    first-touch channel in its first purchase month (0 where that channel had no spend).
    """
    facts = order_facts()
    cac = channel_monthly()["cac"].fillna(0.0)
    all_sessions = sessions()
    cost = {}
    for conv in conversions():
        if conv.kind == "order" and conv.is_new_customer:
            [customer] = conv.persons
            channel = credited_channel(conv, "first_touch", all_sessions)
            cost[customer] = cac.get((month(conv.converted_at), channel), 0.0)
    first = facts[facts["is_first_order"]].set_index("customer_id")["month"]
    profit = (
        facts[facts["customer_id"].notna()].groupby(["customer_id", "month"])["gross_profit"].sum()
    )
    rows = []
    for customer, first_month in first.items():
        for m in pd.date_range(first_month, month(as_of), freq="MS"):
            rows.append({
                "month_start": m, "segment_value": segment_of[customer],
                "is_new": m == first_month, "cost": cost.get(customer, 0.0),
                "gross_profit": profit.get((customer, m), 0.0),
            })  # fmt: skip
    members = pd.DataFrame(rows)
    members["new_cost"] = members["cost"].where(members["is_new"], 0.0)
    out = members.groupby(["segment_value", "month_start"]).agg(
        members=("cost", "size"),
        new_customers=("is_new", "sum"),
        acquisition_spend=("new_cost", "sum"),
        members_cost=("cost", "sum"),
        gross_profit=("gross_profit", "sum"),
    )
    out["cac"] = out["members_cost"] / out["members"]
    lifespan = b2c_monthly(as_of)["lifespan_years"]
    trailing = []
    for segment, m in out.index:
        window = out.loc[segment]
        window = window[(window.index <= m) & (window.index > m - pd.DateOffset(months=12))]
        annual = 12 * window["gross_profit"].sum() / window["members"].sum()
        trailing.append(annual * lifespan.get(m, np.nan))
    out["ltv"] = trailing
    out["ltv_to_cac"] = out["ltv"] / out["cac"].replace(0, np.nan)
    return out


def cohort_retention(as_of: pd.Timestamp) -> pd.DataFrame:
    facts = order_facts()
    purchases = facts[facts["is_purchase"] & facts["customer_id"].notna()]
    cohort = purchases.groupby("customer_id")["month"].min().rename("cohort_month")
    rows = []
    for cohort_month, members in cohort.groupby(cohort):
        for m in pd.date_range(cohort_month, month(as_of), freq="MS"):
            bought = purchases[
                (purchases["month"] == m) & purchases["customer_id"].isin(members.index)
            ]
            rows.append({
                "cohort_month": cohort_month,
                "months_since_acquisition": (m.year - cohort_month.year) * 12 + m.month - cohort_month.month,
                "cohort_customers": len(members),
                "retained_customers": bought["customer_id"].nunique(),
            })  # fmt: skip
    out = pd.DataFrame(rows).set_index(["cohort_month", "months_since_acquisition"])
    out["retention_rate"] = out["retained_customers"] / out["cohort_customers"]
    return out


# --- B2B ------------------------------------------------------------------------------


def b2b_monthly(as_of: pd.Timestamp) -> pd.DataFrame:
    """Won / lost deals, cycle, ACV and renewal rate per month up to the as-of month."""
    deals = deal_facts()
    closed = deals[deals["is_closed"]].copy()
    closed["month"] = closed["closed_at"].map(month)
    won = closed[closed["is_won"]]
    out = pd.DataFrame(
        {
            "won_deals": won.groupby("month").size(),
            "lost_deals": closed[~closed["is_won"]].groupby("month").size(),
            "sales_cycle_days_mean": won.groupby("month")["cycle_days"].mean(),
            "sales_cycle_days_median": won.groupby("month")["cycle_days"].median(),
            "average_acv": won.groupby("month")["acv"].mean(),
        }
    ).fillna({"won_deals": 0, "lost_deals": 0})
    out["win_rate"] = out["won_deals"] / (out["won_deals"] + out["lost_deals"])
    # renewal: won contracts ending in the month, renewed when a won deal names them
    renewed_ids = set(deals.loc[deals["is_won"], "renewal_of_opportunity_id"].dropna())
    due = deals[deals["is_won"] & deals["contract_end_date"].notna()].copy()
    due["month"] = pd.to_datetime(due["contract_end_date"]).map(month)
    due["renewed"] = due["opportunity_id"].isin(renewed_ids)
    renewal = due.groupby("month")["renewed"].agg(["size", "sum"])
    out = out.join((renewal["sum"] / renewal["size"]).rename("renewal_rate"), how="outer")
    out.index.name = "month_start"
    return out[out.index <= as_of]


def nps(scores: pd.Series) -> float:
    if scores.empty:
        return float("nan")
    return 100.0 * ((scores >= 9).sum() - (scores <= 6).sum()) / len(scores)


def nps_by_month(respondent: str) -> pd.Series:
    """NPS per month of account respondents ('account') or the others ('customer')."""
    responses = nps_responses().copy()
    responses["month"] = pd.to_datetime(responses["responded_at"]).map(month)
    people_accounts = contacts().set_index("contact_id")["account_id"]
    account = responses["account_id"].fillna(responses["contact_id"].map(people_accounts))
    chosen = responses[account.notna()] if respondent == "account" else responses[account.isna()]
    return chosen.groupby("month")["score"].apply(nps)
