"""Small loaders from the real shared fixtures to canonical raw frames (tests only).

They do what the vendor mappings of the ingest layer do for these files, so the dbt tests
do not depend on the ingest code: Maven CRM (accounts keyed by name, revenue in $M) and UCI
Online Retail II (one row per invoice line; `C` invoices are cancellations of earlier
invoices, i.e. returns with negative quantities).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def maven_frames(folder: Path) -> dict[str, pd.DataFrame]:
    accounts = pd.read_csv(folder / "accounts.csv")
    pipeline = pd.read_csv(folder / "sales_pipeline.csv")
    raw_accounts = pd.DataFrame(
        {
            "account_id": accounts["account"],
            "account_name": accounts["account"],
            "industry": accounts["sector"],
            "employees": accounts["employees"],
            "annual_revenue": accounts["revenue"] * 1_000_000,
            "currency": "USD",
            "country": accounts["office_location"],
            "parent_account_id": accounts["subsidiary_of"],
        }
    )
    raw_opportunities = pd.DataFrame(
        {
            "opportunity_id": pipeline["opportunity_id"],
            "account_id": pipeline["account"],
            "stage": pipeline["deal_stage"],
            "amount": pipeline["close_value"],
            "currency": "USD",
            "product": pipeline["product"],
            "owner": pipeline["sales_agent"],
            "created_at": pd.to_datetime(pipeline["engage_date"]),
            "closed_at": pd.to_datetime(pipeline["close_date"]),
        }
    )
    return {"accounts": raw_accounts, "opportunities": raw_opportunities}


def uci_order_lines(path: Path, customers: int | None = None) -> pd.DataFrame:
    """Canonical order lines; ``customers`` keeps only the first N customer ids (sorted)
    plus every line of their invoices, and the guest lines of the same days."""
    frame = pd.read_parquet(path)
    if customers is not None:
        kept = sorted(frame["Customer ID"].dropna().unique())[:customers]
        frame = frame[frame["Customer ID"].isin(kept) | frame["Customer ID"].isna()].head(20_000)
    frame = frame.reset_index(drop=True)
    invoice = frame["Invoice"].astype(str)
    return pd.DataFrame(
        {
            "order_id": invoice,
            "order_line_id": (frame.groupby("Invoice").cumcount() + 1).astype(str),
            "customer_id": frame["Customer ID"].astype("Int64").astype(str).replace("<NA>", None),
            "ordered_at": pd.to_datetime(frame["InvoiceDate"]),
            "product_id": frame["StockCode"],
            "product_name": frame["Description"],
            "quantity": frame["Quantity"].astype(float),
            "unit_price": frame["Price"],
            "net_amount": frame["Quantity"].astype(float) * frame["Price"],
            "currency": "GBP",
            "country": frame["Country"],
            "is_return": invoice.str.startswith("C"),
        }
    )
