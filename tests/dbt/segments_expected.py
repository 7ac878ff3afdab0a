"""Independent pandas implementations of the documented segment rules.

They work on the canonical raw frames a test wrote (already de-duplicated) and restate the
rules of dim_customers / dim_accounts from their YAML documentation, without SQL.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from pipelines.core.settings import DBT_PROJECT_DIR

SEEDS = DBT_PROJECT_DIR / "seeds"


def quintile_with_ties(values: pd.Series, n: int = 5) -> pd.Series:
    """1 + floor(n * (min-rank - 1) / count): equal values share the score of their lowest
    rank (n = 5 quintiles by default)."""
    ranks = values.rank(method="min")
    return (1 + np.floor(n * (ranks - 1) / len(values))).astype(int)


def recency_score(recency_days: pd.Series, horizon: float) -> pd.Series:
    """1 for a churned customer (recency above the churn horizon), else 2-5: the recency
    quartile among the customers not churned (more recent scores higher)."""
    churned = recency_days > horizon
    score = pd.Series(1, index=recency_days.index)
    active = recency_days[~churned]
    if len(active):
        score[~churned] = 1 + quintile_with_ties(-active, n=4)
    return score.astype(int)


def rfm_map() -> dict[tuple[int, int], str]:
    seed = pd.read_csv(SEEDS / "rfm_segment_map.csv")
    return {(r.r_score, r.f_score): r.rfm_segment for r in seed.itertuples()}


@functools.cache
def _fx_seed() -> dict[tuple[str, pd.Timestamp], float]:
    seed = pd.read_csv(SEEDS / "fx_rates.csv", parse_dates=["rate_date"])
    return {(r.currency, r.rate_date): r.rate_to_usd for r in seed.itertuples()}


def fx_to_usd(currency: str, day: pd.Timestamp) -> float:
    """USD per unit from the monthly fx_rates seed (the month's rate holds all month)."""
    return _fx_seed()[(currency, pd.Timestamp(day).to_period("M").to_timestamp())]


def usd_rate(currency: str, day: pd.Timestamp) -> float:
    """Rate to a USD reporting currency (1 for USD)."""
    return 1.0 if currency == "USD" else fx_to_usd(currency, day)


def expected_customers(
    lines: pd.DataFrame,
    *,
    rate_to_reporting=lambda currency, day: 1.0,
    horizon_quantile: float = 0.9,
    default_margin: float = 0.6,
) -> pd.DataFrame:
    """dim_customers for order lines with columns order_id, customer_id, ordered_at,
    net_amount, cost_amount (optional), currency, is_return, status (optional)."""
    lines = lines.copy()
    lines["ordered_at"] = pd.to_datetime(lines["ordered_at"])
    as_of = lines["ordered_at"].max().normalize()
    if "status" not in lines:
        lines["status"] = None
    # cancelled before any money moved: a cancel-word status on a line that is neither a
    # return nor negative; a credit note stays a return whatever its status says. One such
    # line cancels its order.
    cancelled_line = (
        lines["status"].fillna("").str.lower().isin(["cancelled", "canceled", "voided", "void"])
        & ~lines["is_return"].fillna(False).astype(bool)
        & ~(lines["net_amount"] < 0)
    )
    lines = lines[~lines["order_id"].isin(lines.loc[cancelled_line, "order_id"])]
    lines = lines[lines["customer_id"].notna()].copy()
    month = lines["ordered_at"].dt.to_period("M").dt.to_timestamp()
    pairs = pd.MultiIndex.from_arrays([lines["currency"], month])
    rates = {pair: rate_to_reporting(*pair) for pair in pairs.unique()}
    lines["rate"] = [rates[pair] for pair in pairs]
    lines["net_rc"] = lines["net_amount"] * lines["rate"]
    cost = pd.to_numeric(lines.get("cost_amount", pd.Series(np.nan, index=lines.index)))
    lines["profit_rc"] = np.where(
        cost.notna(), (lines["net_amount"] - cost) * lines["rate"], lines["net_rc"] * default_margin
    )
    orders = lines.groupby("order_id").agg(
        customer_id=("customer_id", "max"),
        ordered_at=("ordered_at", "min"),
        net_rc=("net_rc", "sum"),
        profit_rc=("profit_rc", "sum"),
        gross_rc=("net_rc", lambda s: s[s > 0].sum()),
        returns_rc=("net_rc", lambda s: -s[s < 0].sum()),
        all_return=("is_return", "all"),
        any_return=("is_return", "any"),
    )
    orders["is_purchase"] = ~orders["all_return"] & (orders["net_rc"] > 0)
    purchases = orders[orders["is_purchase"]]

    out = purchases.groupby("customer_id").agg(
        orders=("net_rc", "size"),
        first_order_at=("ordered_at", "min"),
        last_order_at=("ordered_at", "max"),
    )
    all_orders = orders[orders["customer_id"].isin(out.index)].groupby("customer_id")
    out["net_revenue"] = all_orders["net_rc"].sum()
    out["gross_profit"] = all_orders["profit_rc"].sum()
    out["return_rate"] = all_orders["returns_rc"].sum() / all_orders["gross_rc"].sum()
    out["orders_with_returns"] = all_orders["any_return"].sum()
    out["aov"] = out["net_revenue"] / out["orders"]
    out["recency_days"] = (as_of - out["last_order_at"].dt.normalize()).dt.days
    ordered = purchases.reset_index().sort_values(["customer_id", "ordered_at", "order_id"])
    gap_days = (
        ordered["ordered_at"].dt.normalize().groupby(ordered["customer_id"]).diff().dropna().dt.days
    )
    horizon = float(np.quantile(gap_days, horizon_quantile)) if len(gap_days) else 365.0
    out["r_score"] = recency_score(out["recency_days"], horizon)
    out["f_score"] = quintile_with_ties(out["orders"])
    out["m_score"] = quintile_with_ties(out["net_revenue"].round(6))
    segments = rfm_map()
    out["rfm_segment"] = [
        segments[(r, f)] for r, f in zip(out["r_score"], out["f_score"], strict=True)
    ]

    out["churn_horizon_days"] = horizon
    out["is_churned"] = out["recency_days"] > horizon
    ratio = out["recency_days"] / horizon
    out["churn_risk_band"] = np.select(
        [ratio > 1, ratio > 0.8, ratio > 0.5], ["churned", "high", "medium"], "low"
    )
    out["is_repeat_buyer"] = out["orders"] > 1
    out["loyalty_tier"] = np.select(
        [out["orders"] <= 1, out["is_churned"], out["orders"] < 5, out["m_score"] == 5],
        ["one-time", "lapsed", "returning", "vip"],
        "loyal",
    )
    out["purchase_frequency_band"] = pd.cut(
        out["orders"],
        [0, 1, 3, 9, math.inf],
        labels=["1 order", "2-3 orders", "4-9 orders", "10+ orders"],
    ).astype(str)
    out["as_of_date"] = as_of
    return out


SIZE_BINS = [0, 9, 49, 199, 499, 999, 4999, math.inf]
SIZE_LABELS = ["1-9", "10-49", "50-199", "200-499", "500-999", "1000-4999", "5000+"]
REVENUE_BINS = [0, 1e6, 1e7, 5e7, 1e8, 5e8, 1e9, math.inf]
REVENUE_LABELS = ["<1M", "1M-10M", "10M-50M", "50M-100M", "100M-500M", "500M-1B", "1B+"]


def size_band(employees: pd.Series) -> pd.Series:
    banded = pd.cut(employees, SIZE_BINS, labels=SIZE_LABELS, right=True).astype(object)
    return banded.where(employees > 0, "unknown").fillna("unknown")


def revenue_band(revenue: pd.Series) -> pd.Series:
    banded = pd.cut(revenue, REVENUE_BINS, labels=REVENUE_LABELS, right=False).astype(object)
    return banded.where(revenue > 0, "unknown").fillna("unknown")


def month_start(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.to_period("M").dt.to_timestamp()


def value_tiers(revenue: pd.Series, key_share: float = 0.05) -> pd.Series:
    """Tier per account id (index) from trailing revenue, ties ranked by account id."""
    ranked = revenue[revenue > 0].reset_index()
    ranked.columns = ["account_id", "revenue"]
    ranked = ranked.sort_values(["revenue", "account_id"], ascending=[False, True])
    n = len(ranked)
    ranked["rank"] = range(1, n + 1)
    tiers = pd.Series("no revenue", index=revenue.index, dtype=object)
    for row in ranked.itertuples():
        if row.rank <= math.ceil(key_share * n):
            tiers[row.account_id] = "key account"
        elif row.rank <= math.ceil(0.2 * n):
            tiers[row.account_id] = "high"
        elif row.rank <= math.ceil(0.5 * n):
            tiers[row.account_id] = "medium"
        else:
            tiers[row.account_id] = "low"
    return tiers


def growth_trend(trailing: float, prior: float, threshold: float = 0.1) -> str:
    if prior > 0:
        if trailing > (1 + threshold) * prior:
            return "growing"
        if trailing < (1 - threshold) * prior:
            return "declining"
        return "stable"
    return "new" if trailing > 0 else "unknown"


def smoothed_propensity(
    trials: pd.DataFrame, cell_columns: list[str], prior_weight: float = 20
) -> tuple[pd.DataFrame, float]:
    """Per cell: trials, won, (won + w*g)/(trials + w); trials has cell columns + is_won."""
    global_rate = trials["is_won"].mean() if len(trials) else 0.0
    cells = trials.groupby(cell_columns)["is_won"].agg(cell_trials="size", cell_won="sum")
    cells["propensity_score"] = (cells["cell_won"] + prior_weight * global_rate) / (
        cells["cell_trials"] + prior_weight
    )
    return cells, global_rate
