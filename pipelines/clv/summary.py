"""Transactions → the per-customer summary BG/NBD and Gamma-Gamma are fitted on.

The usual calibration convention (Fader, Hardie & Lee; Hardie's CDNOW notes): all purchases of
one customer on one calendar day are one transaction (their values summed); the first
transaction starts the customer's clock and is not a repeat; for a period ending on ``end``
(inclusive):

* ``frequency`` x = transaction days after the first one;
* ``recency`` t_x = weeks from the first to the last transaction day;
* ``T`` = weeks from the first transaction day to ``end``;
* ``monetary`` = mean value of the x repeat transactions (null for x = 0);
* ``first_purchase_date`` / ``last_purchase_date``.

Weeks are days / 7 (CDNOW: a customer first seen on 1997-01-01 has T = 272 / 7 = 38.86 at the
end of the 39-week calibration period, 1997-09-30).
"""

from __future__ import annotations

import pandas as pd

DAYS_PER_WEEK = 7.0
TRANSACTION_COLUMNS = ["customer_key", "transaction_date", "value"]


def daily_transactions(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per customer and calendar day: ``customer_key``, ``transaction_date``, ``value``."""
    missing = [c for c in TRANSACTION_COLUMNS if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack column(s) {missing}")
    frame = transactions[TRANSACTION_COLUMNS].copy()
    frame["transaction_date"] = pd.to_datetime(frame["transaction_date"]).dt.normalize()
    frame["value"] = pd.to_numeric(frame["value"]).astype("float64")
    return (
        frame.groupby(["customer_key", "transaction_date"], as_index=False, sort=True)["value"]
        .sum()
        .reset_index(drop=True)
    )


def summarise(daily: pd.DataFrame, end) -> pd.DataFrame:
    """The summary (one row per customer first seen on or before ``end``), sorted by key."""
    end = pd.Timestamp(end).normalize()
    within = daily[daily["transaction_date"] <= end]
    columns = [
        "customer_key",
        "frequency",
        "recency",
        "T",
        "monetary",
        "first_purchase_date",
        "last_purchase_date",
    ]
    if within.empty:
        return pd.DataFrame({c: pd.Series([], dtype="float64") for c in columns}).astype(
            {"customer_key": "object"}
        )
    grouped = within.groupby("customer_key", sort=True)
    first = grouped["transaction_date"].min()
    last = grouped["transaction_date"].max()
    days = grouped["transaction_date"].count()
    total = grouped["value"].sum()
    first_value = within.loc[
        within["transaction_date"].eq(within["customer_key"].map(first)), ["customer_key", "value"]
    ].set_index("customer_key")["value"]
    frequency = (days - 1).astype("int64")
    repeat_value = total - first_value.reindex(total.index)
    monetary = (repeat_value / frequency.where(frequency > 0)).astype("float64")
    out = pd.DataFrame(
        {
            "customer_key": first.index,
            "frequency": frequency.to_numpy(),
            "recency": ((last - first).dt.days / DAYS_PER_WEEK).to_numpy(),
            "T": ((end - first).dt.days / DAYS_PER_WEEK).to_numpy(),
            "monetary": monetary.to_numpy(),
            "first_purchase_date": first.to_numpy(),
            "last_purchase_date": last.to_numpy(),
        }
    )
    return out.reset_index(drop=True)


def purchases_between(daily: pd.DataFrame, start, end) -> pd.Series:
    """Transaction days per customer in (start, end] (the holdout's actual purchases)."""
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    inside = daily[(daily["transaction_date"] > start) & (daily["transaction_date"] <= end)]
    return inside.groupby("customer_key").size()
