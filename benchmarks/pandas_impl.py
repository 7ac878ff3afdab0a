"""The main marts in plain pandas, straight from the landing files: what many teams write.

``python -m benchmarks.pandas_impl LANDING OUT_DIR`` writes one Parquet file per mart into
``OUT_DIR`` (``fct_orders``, ``fct_ad_spend_daily``, ``dim_accounts``, ``fct_sessions``,
``dim_customers``). Same rules as the floor script (``benchmarks/floor/marts.sql``), written
the way a pandas user would: read every file whole, clean columns, group by.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.core.settings import DBT_PROJECT_DIR, load_config

SEEDS = DBT_PROJECT_DIR / "seeds"
LINKEDIN_ACCOUNT = "508123456"
CANCELLED = {"cancelled", "canceled", "voided", "void"}


def _blank_to_na(s: pd.Series) -> pd.Series:
    s = s.astype("string").str.strip()
    return s.mask(s == "")


def fx_daily() -> pd.DataFrame:
    """Daily rate to USD per currency, each published rate forward-filled to the next."""
    rates = pd.read_csv(SEEDS / "fx_rates.csv", dtype=str)
    rates = pd.DataFrame(
        {
            "date_day": pd.to_datetime(rates["rate_date"]),
            "currency_code": rates["currency"].str.strip().str.upper(),
            "rate_to_usd": rates["rate_to_usd"].astype(float),
        }
    )
    rates = rates[rates["rate_to_usd"] > 0].sort_values("date_day")
    days = pd.DataFrame({"date_day": pd.date_range("2022-01-01", "2025-12-31", freq="D")})
    out = []
    for code, grp in rates.groupby("currency_code"):
        merged = pd.merge_asof(days, grp[["date_day", "rate_to_usd"]], on="date_day")
        out.append(merged.dropna().assign(currency_code=code))
    return pd.concat(out, ignore_index=True)


def _to_usd(df: pd.DataFrame, date_col: str, amount: pd.Series, fx: pd.DataFrame) -> pd.Series:
    keys = pd.DataFrame({"date_day": df[date_col].values, "currency_code": df["currency_code"]})
    rate = keys.merge(fx, on=["date_day", "currency_code"], how="left")["rate_to_usd"].to_numpy()
    rate = np.where(df["currency_code"].to_numpy() == "USD", 1.0, rate)
    return amount * rate


def order_lines(landing: Path, fx: pd.DataFrame, margin: float) -> pd.DataFrame:
    files = sorted(landing.glob("**/crm/shopify/orders_export_*.csv"))
    raw = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files])
    raw = raw[_blank_to_na(raw["Name"]).notna()].copy()
    for col in ["Created at", "Currency", "Customer ID", "Email", "Financial Status"]:
        raw[col] = _blank_to_na(raw[col])
    order_level = raw.groupby("Name")[
        ["Created at", "Currency", "Customer ID", "Email", "Financial Status"]
    ].max()
    lines = raw[["Name"]].join(order_level, on="Name")
    ordered_at = pd.to_datetime(
        lines["Created at"], format="%Y-%m-%d %H:%M:%S %z", errors="coerce", utc=True
    )
    quantity = pd.to_numeric(raw["Lineitem quantity"], errors="coerce")
    price = pd.to_numeric(raw["Lineitem price"], errors="coerce")
    discount = pd.to_numeric(_blank_to_na(raw["Lineitem discount"]), errors="coerce").fillna(0)
    unit_cost = pd.to_numeric(_blank_to_na(raw["Lineitem cost"]), errors="coerce")
    out = pd.DataFrame(
        {
            "order_id": raw["Name"].to_numpy(),
            "customer_id": lines["Customer ID"].to_numpy(),
            "email": lines["Email"].str.lower().to_numpy(),
            "ordered_at": ordered_at.dt.tz_localize(None).to_numpy(),
            "status": lines["Financial Status"].str.lower().to_numpy(),
            "currency_code": lines["Currency"].to_numpy(),
            "is_return": (
                (quantity < 0) | (raw["Lineitem fulfillment status"].str.lower() == "returned")
            ).to_numpy(),
            "net": (quantity * price - discount).to_numpy(),
            "cost": (quantity * unit_cost).to_numpy(),
        }
    )
    out = out[out["ordered_at"].notna() & out["net"].notna()].copy()
    out["order_date"] = out["ordered_at"].dt.normalize()
    profit = np.where(out["cost"].isna(), out["net"] * margin, out["net"] - out["cost"])
    out["net_amount_rc"] = _to_usd(out, "order_date", out["net"].to_numpy(), fx)
    out["gross_profit_rc"] = _to_usd(out, "order_date", profit, fx)
    return out


def fct_orders(lines: pd.DataFrame) -> pd.DataFrame:
    orders = lines.groupby("order_id").agg(
        customer_id=("customer_id", "max"),
        email=("email", "max"),
        ordered_at=("ordered_at", "min"),
        net_revenue=("net_amount_rc", "sum"),
        gross_profit=("gross_profit_rc", "sum"),
        is_return_order=("is_return", "all"),
        is_cancelled=("status", lambda s: s.isin(CANCELLED).any()),
    )
    emails = lines.dropna(subset=["customer_id"]).groupby("customer_id")["email"].max()
    customer_email = orders["customer_id"].map(emails)
    orders["customer_key"] = np.where(
        orders["customer_id"].notna(),
        np.where(
            customer_email.notna(),
            "email:" + customer_email.fillna(""),
            "customer:" + orders["customer_id"].fillna(""),
        ),
        np.where(orders["email"].notna(), "email:" + orders["email"].fillna(""), None),
    )
    orders["order_date"] = orders["ordered_at"].dt.normalize()
    orders["is_purchase"] = (
        ~orders["is_cancelled"] & ~orders["is_return_order"] & (orders["net_revenue"] > 0)
    )
    return orders.reset_index()


def _num(s: pd.Series, na: str | None = None) -> pd.Series:
    s = s.astype("string").str.replace(",", "", regex=False).str.strip()
    if na is not None:
        s = s.mask(s == na)
    return pd.to_numeric(s, errors="coerce")


def fct_ad_spend_daily(landing: Path, fx: pd.DataFrame) -> pd.DataFrame:
    read = lambda pattern, **kw: pd.concat(  # noqa: E731
        [pd.read_csv(f, dtype=str, keep_default_na=False, **kw) for f in landing.glob(pattern)]
    )
    g = read("**/ads/google_ads/*.csv", skiprows=2)
    g = g[~g["Day"].str.startswith("Total:") & ~g["Campaign ID"].str.strip().isin(["--", ""])]
    google = pd.DataFrame(
        {
            "spend_date": pd.to_datetime(g["Day"]),
            "platform": "google_ads",
            "ad_account_id": g["Customer ID"],
            "campaign_id": g["Campaign ID"].str.strip(),
            "impressions": _num(g["Impr."]),
            "clicks": _num(g["Clicks"]),
            "spend": _num(g["Cost"]),
            "currency_code": g["Currency code"],
        }
    )
    m = read("**/ads/meta_ads/*.csv", encoding="utf-8-sig")
    m = m[(m["Day"].str.strip() != "") & (m["Campaign ID"].str.strip() != "")]
    meta = pd.DataFrame(
        {
            "spend_date": pd.to_datetime(m["Day"]),
            "platform": "meta_ads",
            "ad_account_id": m["Account ID"],
            "campaign_id": m["Campaign ID"].str.strip(),
            "impressions": _num(m["Impressions"]),
            "clicks": _num(m["Link clicks"]).fillna(0),
            "spend": _num(m["Amount spent (EUR)"]),
            "currency_code": "EUR",
        }
    )
    li = read("**/ads/linkedin_ads/*.csv", encoding="utf-16", sep="\t", skiprows=5)
    linkedin = pd.DataFrame(
        {
            "spend_date": pd.to_datetime(li["Start Date (in UTC)"], format="%m/%d/%Y"),
            "platform": "linkedin_ads",
            "ad_account_id": LINKEDIN_ACCOUNT,
            "campaign_id": li["Campaign ID"].str.strip(),
            "impressions": _num(li["Impressions"]),
            "clicks": _num(li["Clicks"]),
            "spend": _num(li["Total Spent"]),
            "currency_code": li["Currency"],
        }
    )
    t = read("**/ads/tiktok_ads/*.csv")
    tiktok = pd.DataFrame(
        {
            "spend_date": pd.to_datetime(t["By Day"]),
            "platform": "tiktok_ads",
            "ad_account_id": None,
            "campaign_id": t["Campaign ID"].str.strip(),
            "impressions": _num(t["Impressions"]),
            "clicks": _num(t["Clicks (destination)"], na="-"),
            "spend": _num(t["Cost"], na="-"),
            "currency_code": t["Currency"],
        }
    )
    spend = pd.concat([google, meta, linkedin, tiktok], ignore_index=True)
    spend = spend.sort_values("spend", ascending=False).drop_duplicates(
        ["spend_date", "platform", "ad_account_id", "campaign_id"]
    )
    spend = spend.rename(columns={"spend": "spend_original"})
    spend["spend"] = _to_usd(spend, "spend_date", spend["spend_original"].to_numpy(), fx)
    return spend.reset_index(drop=True)


def dim_accounts(landing: Path) -> pd.DataFrame:
    files = landing.glob("**/crm/hubspot/hubspot-crm-exports-all-companies-*.csv")
    raw = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files])
    ids = raw["Record ID"].str.strip()
    created = pd.to_datetime(raw["Create Date"], format="%Y-%m-%d %H:%M", errors="coerce")
    employees = raw["Number of Employees"].str.strip()
    ok_employees = (employees == "") | pd.to_numeric(employees, errors="coerce").notna()
    valid = (ids != "") & created.notna() & ok_employees
    return pd.DataFrame({"account_id": ids[valid].drop_duplicates().to_numpy()})


def _session_id(params) -> str | None:
    for p in params if isinstance(params, list | np.ndarray) else []:
        if p.get("key") == "ga_session_id":
            return (p.get("value") or {}).get("int_value")
    return None


def fct_sessions(landing: Path) -> pd.DataFrame:
    parts = []
    for f in sorted(landing.glob("**/web/ga4/events_*.jsonl.gz")):
        ev = pd.read_json(f, lines=True, compression="gzip", dtype=False)
        ev = ev.reindex(columns=["event_name", "event_timestamp", "user_pseudo_id", "event_params"])
        ev["ga_session_id"] = ev["event_params"].map(_session_id)
        parts.append(ev.drop(columns="event_params"))
    events = pd.concat(parts, ignore_index=True)
    events["ts"] = pd.to_numeric(events["event_timestamp"], errors="coerce")
    events = events[events["event_name"].notna() & events["ts"].notna()].drop_duplicates(
        ["event_name", "event_timestamp", "user_pseudo_id", "ga_session_id"]
    )
    sessions = events.groupby(["user_pseudo_id", "ga_session_id"], dropna=False).agg(
        started_us=("ts", "min"), ended_us=("ts", "max"), events=("ts", "size")
    )
    sessions["started_at"] = pd.to_datetime(sessions.pop("started_us"), unit="us")
    sessions["ended_at"] = pd.to_datetime(sessions.pop("ended_us"), unit="us")
    return sessions.reset_index()


def _ntile_with_ties(values: pd.Series, ascending: bool) -> pd.Series:
    """1 + floor(5 × (rank − 1) / n) with SQL rank() (ties share the lowest rank)."""
    return _ntile(values, ascending, tiles=5)


def _ntile(values: pd.Series, ascending: bool, tiles: int) -> pd.Series:
    rank = values.rank(method="min", ascending=ascending)
    return (1 + np.floor(tiles * (rank - 1) / len(values))).astype(int)


def churn_horizon_days(orders: pd.DataFrame) -> float:
    """Configured days, else the configured quantile of all inter-purchase days, else 365."""
    dbt_vars = load_config().get("dbt_vars", {})
    if dbt_vars.get("churn_horizon_days") is not None:
        return float(dbt_vars["churn_horizon_days"])
    bought = orders[orders["is_purchase"] & orders["customer_key"].notna()]
    bought = bought.sort_values(["customer_key", "ordered_at", "order_id"])
    gaps = (bought["order_date"] - bought.groupby("customer_key")["order_date"].shift()).dt.days
    gaps = gaps.dropna()
    if gaps.empty:
        return 365.0
    return float(gaps.quantile(float(dbt_vars.get("churn_horizon_quantile", 0.9))))


def dim_customers(orders: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    as_of = max(orders["order_date"].max(), sessions["ended_at"].max().normalize())
    live = orders[orders["customer_key"].notna() & ~orders["is_cancelled"]]
    live = live[live["order_date"] <= as_of]
    purchases = live[live["is_purchase"]]
    state = purchases.groupby("customer_key").agg(
        purchase_orders=("order_id", "size"), last_purchase_date=("order_date", "max")
    )
    state["net_revenue"] = live.groupby("customer_key")["net_revenue"].sum()
    state["recency_days"] = (as_of - state["last_purchase_date"]).dt.days
    # churned customers (recency above the churn horizon) score 1, the others 2-5 among
    # themselves, as int_customers_rfm_scored does
    state["is_churned"] = state["recency_days"] > churn_horizon_days(orders)
    active = state.loc[~state["is_churned"], "recency_days"]
    state["r_score"] = 1
    if len(active):
        state.loc[active.index, "r_score"] = 1 + _ntile(active, ascending=False, tiles=4)
    state["f_score"] = _ntile_with_ties(state["purchase_orders"], ascending=True)
    segments = pd.read_csv(SEEDS / "rfm_segment_map.csv")
    state = state.reset_index().merge(segments, on=["r_score", "f_score"], how="left")
    state["rfm_segment"] = state["rfm_segment"].fillna("unmapped")
    return state


def build(landing: Path, out_dir: Path) -> None:
    margin = float(load_config().get("dbt_vars", {}).get("default_gross_margin", 0.6))
    fx = fx_daily()
    orders = fct_orders(order_lines(landing, fx, margin))
    sessions = fct_sessions(landing)
    marts = {
        "fct_orders": orders,
        "fct_ad_spend_daily": fct_ad_spend_daily(landing, fx),
        "dim_accounts": dim_accounts(landing),
        "fct_sessions": sessions,
        "dim_customers": dim_customers(orders, sessions),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in marts.items():
        frame.to_parquet(out_dir / f"{name}.parquet", index=False)


if __name__ == "__main__":
    build(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
