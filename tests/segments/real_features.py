"""Feature tables from the real shared fixtures, built in pandas (tests only).

Maven CRM accounts (85 companies: employees, revenue in $M, year established, won amount from
the sales pipeline) and UCI Online Retail II customers (orders, net revenue, average order
value, days since the last order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.segments.config import ClusterSpec, Feature

MAVEN = "maven_crm_sales_opportunities"
UCI = "uci_online_retail_ii_2009_2010/online_retail_II_2009-2010.parquet"


def maven_accounts(fixtures: Path) -> pd.DataFrame:
    accounts = pd.read_csv(fixtures / MAVEN / "accounts.csv")
    pipeline = pd.read_csv(fixtures / MAVEN / "sales_pipeline.csv")
    won = pipeline[pipeline["deal_stage"] == "Won"].groupby("account")["close_value"].sum()
    deals = pipeline.groupby("account").size()
    return pd.DataFrame(
        {
            "account_id": accounts["account"],
            "employees": accounts["employees"].astype(float),
            "revenue_musd": accounts["revenue"],
            "year_established": accounts["year_established"].astype(float),
            "won_amount": accounts["account"].map(won).fillna(0.0),
            "deals": accounts["account"].map(deals).fillna(0).astype(float),
        }
    )


def uci_customers(fixtures: Path, customers: int = 600) -> pd.DataFrame:
    lines = pd.read_parquet(fixtures / UCI)
    lines = lines[lines["Customer ID"].notna()]
    kept = sorted(lines["Customer ID"].unique())[:customers]
    lines = lines[lines["Customer ID"].isin(kept)].assign(
        net=lambda f: f["Quantity"] * f["Price"],
        InvoiceDate=lambda f: pd.to_datetime(f["InvoiceDate"]),
        is_return=lambda f: f["Invoice"].astype(str).str.startswith("C"),
    )
    purchases = lines[~lines["is_return"]]
    as_of = lines["InvoiceDate"].max()
    per_customer = lines.groupby("Customer ID")
    out = pd.DataFrame(
        {
            "orders": purchases.groupby("Customer ID")["Invoice"].nunique(),
            "net_revenue": per_customer["net"].sum(),
            "recency_days": (as_of - purchases.groupby("Customer ID")["InvoiceDate"].max()).dt.days,
        }
    )
    out["aov"] = out["net_revenue"] / out["orders"]
    out.index = out.index.astype(int).astype(str)
    return (
        out.rename_axis("customer_key")
        .reset_index()
        .astype({"orders": float, "recency_days": float})
    )


def account_spec(**overrides) -> ClusterSpec:
    settings = dict(
        entity="accounts",
        relation="marts.dim_accounts",
        key="account_id",
        features=(
            Feature("employees", "log1p", "large", "small"),
            Feature("revenue_musd", "log1p", "high revenue", "low revenue"),
            Feature("year_established", None, "young", "old"),
            Feature("won_amount", "log1p", "big spender", "small spender"),
            Feature("deals", "log1p", "many deals", "few deals"),
        ),
        k=None,
        k_range=(2, 6),
        random_state=42,
        n_init=10,
    )
    settings.update(overrides)
    return ClusterSpec(**settings)


def customer_spec(**overrides) -> ClusterSpec:
    settings = dict(
        entity="customers",
        relation="marts.dim_customers",
        key="customer_key",
        features=(
            Feature("orders", "log1p", "frequent", "infrequent"),
            Feature("net_revenue", "log1p", "high spend", "low spend"),
            Feature("aov", "log1p", "large baskets", "small baskets"),
            Feature("recency_days", None, "lapsed", "recent"),
        ),
        k=None,
        k_range=(2, 5),
        random_state=7,
        n_init=10,
    )
    settings.update(overrides)
    return ClusterSpec(**settings)


def zscores(frame: pd.DataFrame, spec: ClusterSpec) -> pd.DataFrame:
    """The documented standardisation, written out in pandas: signed log1p, median fill,
    (x − mean) / population std."""
    out = pd.DataFrame(index=frame.index)
    for feature in spec.features:
        x = frame[feature.column].astype(float)
        if feature.transform == "log1p":
            x = np.sign(x) * np.log1p(x.abs())
        x = x.fillna(x.median())
        std = x.std(ddof=0)
        if std > 0:
            out[feature.column] = (x - x.mean()) / std
    return out
