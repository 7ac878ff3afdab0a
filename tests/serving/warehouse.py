"""A tiny working warehouse ({home}/warehouse/segmart.duckdb, schema marts) for serving tests."""

from __future__ import annotations

from pathlib import Path

import duckdb


def write_marts(home: Path, version: int, rows: int = 50, r_score: int = 3) -> Path:
    """``dim_customers`` and ``kpi_channel_monthly`` whose every row carries ``version``."""
    path = home / "warehouse" / "segmart.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute(
            f"""
            create or replace table marts.dim_customers as
            select 'k' || i as customer_key, 'c' || i as customer_id, {version} as version,
                {r_score} as r_score, 1 + i % 5 as f_score, 1 + (i * 7) % 5 as m_score,
                'champions' as rfm_segment, i as recency_days, i * 1.5 as net_revenue
            from range({rows}) t(i)
            """
        )
        con.execute(
            f"""
            create or replace table marts.kpi_channel_monthly as
            select month_start::varchar || '|' || channel as channel_month_key, *
            from (
                select date '2025-01-01' + to_months(i // 3)::interval as month_start,
                    ['paid_search', 'paid_social', 'email'][1 + i % 3] as channel,
                    {version} as version, 100.0 + i as spend, 200 + i as impressions,
                    10 + i as clicks, 0.05 as ctr, 1.5 as cpc, 2 as new_customers,
                    50.0 as cac, 3.0 as roas
                from range(12) t(i)
            )
            """
        )
        # the fact the KPI spend reconciles with: the same spend spread over two rows each
        con.execute(
            """
            create or replace table marts.fct_ad_spend_daily as
            select month_start + interval 1 day * j as spend_date, channel, spend / 2 as spend
            from marts.kpi_channel_monthly, range(2) t(j)
            """
        )
        con.execute("comment on table marts.dim_customers is 'One row per B2C customer.'")
        con.execute(
            "comment on column marts.dim_customers.r_score is 'Recency quintile, 5 = most recent.'"
        )
        con.execute("comment on column marts.kpi_channel_monthly.cac is 'Spend / new customers.'")
    finally:
        con.close()
    return path
