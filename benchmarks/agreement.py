"""Do the pipeline (a), the floor (b) and pandas (c) compute the same marts?

Not every column of every mart: the documented subset below, chosen so that each metric has
one unambiguous definition the three implementations share (see benchmarks/README.md).
Each metric is one SQL aggregate over a mart table; the same query runs on the pipeline's
serving DuckDB, on the floor's DuckDB and on pandas' Parquet files (as DuckDB views).

Tolerances: counts must be equal; money sums agree to a relative 1e-6 (floating-point
summation order differs between engines); where a definition is knowingly simplified in
(b)/(c), the metric carries a wider, documented tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import duckdb

REL_MONEY = 1e-6
RFM_SEGMENTS = (
    "about to sleep",
    "at risk",
    "can't lose",
    "champions",
    "hibernating",
    "lost",
    "loyal",
    "need attention",
    "new",
    "potential loyalist",
    "promising",
)


@dataclass(frozen=True)
class Metric:
    """One compared number: ``sql`` is a scalar query over the mart table ``mart``."""

    name: str
    mart: str
    sql: str
    rel_tol: float = 0.0
    abs_tol: float = 0.0
    note: str = ""


def _rfm(segment: str) -> Metric:
    quoted = segment.replace("'", "''")
    return Metric(
        f"dim_customers.rfm.{segment}",
        "dim_customers",
        f"select count(*) from dim_customers where rfm_segment = '{quoted}'",
        rel_tol=0.02,
        abs_tol=10,
        note="±2% or ±10: float noise decides whether a fully refunded order is a purchase "
        "(8 such orders at scale 0.1), which moves its customer's F and R scores",
    )


METRICS: tuple[Metric, ...] = (
    Metric("fct_orders.rows", "fct_orders", "select count(*) from fct_orders"),
    Metric(
        "fct_orders.net_revenue",
        "fct_orders",
        "select sum(net_revenue) from fct_orders",
        rel_tol=REL_MONEY,
    ),
    Metric(
        "fct_orders.gross_profit",
        "fct_orders",
        "select sum(gross_profit) from fct_orders",
        rel_tol=REL_MONEY,
    ),
    Metric(
        "fct_orders.orders_net_positive",
        "fct_orders",
        "select count(*) from fct_orders where net_revenue > 0.005",
        note="orders with net revenue over half a cent (robust form of is_purchase)",
    ),
    Metric(
        "fct_ad_spend_daily.rows", "fct_ad_spend_daily", "select count(*) from fct_ad_spend_daily"
    ),
    Metric(
        "fct_ad_spend_daily.spend",
        "fct_ad_spend_daily",
        "select sum(spend) from fct_ad_spend_daily",
        rel_tol=REL_MONEY,
    ),
    Metric(
        "fct_ad_spend_daily.impressions",
        "fct_ad_spend_daily",
        "select sum(impressions) from fct_ad_spend_daily",
    ),
    Metric(
        "fct_ad_spend_daily.clicks",
        "fct_ad_spend_daily",
        "select sum(clicks) from fct_ad_spend_daily",
    ),
    Metric("dim_accounts.rows", "dim_accounts", "select count(*) from dim_accounts"),
    Metric(
        "dim_customers.rows",
        "dim_customers",
        "select count(*) from dim_customers",
        rel_tol=0.001,
        abs_tol=3,
        note="±0.1% or ±3: float noise decides whether a fully refunded order is a purchase",
    ),
    *(_rfm(s) for s in RFM_SEGMENTS),
    Metric(
        "fct_sessions.rows",
        "fct_sessions",
        "select count(*) from fct_sessions",
        rel_tol=0.05,
        note="±5%: (b)/(c) count GA4 sessions (pseudo id, ga_session_id); the pipeline "
        "re-sessionises (30 min timeout, new campaign, identified visitor)",
    ),
)

MARTS = tuple(dict.fromkeys(m.mart for m in METRICS))


def within(value: float | None, reference: float | None, metric: Metric) -> bool:
    """``value`` agrees with ``reference`` under the metric's tolerance (None never agrees)."""
    if value is None or reference is None:
        return False
    allowed = max(metric.abs_tol, metric.rel_tol * abs(reference))
    return math.isclose(value, reference, rel_tol=0.0, abs_tol=allowed) or value == reference


def compare(values: dict[str, dict[str, float | None]], reference: str = "pipeline") -> dict:
    """Check every implementation's metrics against ``reference``.

    ``values`` maps implementation → metric name → value. Returns
    ``{"ok": bool, "reference": ..., "metrics": {name: {impl: value, ..., "ok": bool,
    "tolerance": str}}}``; a metric missing from an implementation fails.
    """
    out: dict[str, dict] = {}
    for metric in METRICS:
        row: dict = {impl: vals.get(metric.name) for impl, vals in values.items()}
        ref = row.get(reference)
        row["ok"] = all(within(v, ref, metric) for impl, v in row.items() if impl != reference)
        row["tolerance"] = _tolerance_text(metric)
        out[metric.name] = row
    return {
        "ok": all(r["ok"] for r in out.values()),
        "reference": reference,
        "metrics": out,
    }


def _tolerance_text(metric: Metric) -> str:
    if not metric.rel_tol and not metric.abs_tol:
        return "exact"
    parts = []
    if metric.rel_tol:
        parts.append(f"rel {metric.rel_tol:g}")
    if metric.abs_tol:
        parts.append(f"abs {metric.abs_tol:g}")
    return " or ".join(parts)


def collect(con: duckdb.DuckDBPyConnection) -> dict[str, float | None]:
    """Run every metric on a connection where the mart tables are visible by name."""
    values: dict[str, float | None] = {}
    for metric in METRICS:
        try:
            (value,) = con.execute(metric.sql).fetchone()
        except duckdb.Error:
            value = None  # a missing mart or column fails the metric, it does not crash
        values[metric.name] = None if value is None else float(value)
    return values


def collect_duckdb(path: Path, schema: str | None = None) -> dict[str, float | None]:
    """Metrics of marts in a DuckDB file (optionally in ``schema``), opened read-only."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        if schema:
            con.execute(f"set schema '{schema}'")
        return collect(con)
    finally:
        con.close()


def collect_parquet(folder: Path) -> dict[str, float | None]:
    """Metrics of marts written as ``{folder}/{mart}.parquet``."""
    con = duckdb.connect()
    try:
        for mart in MARTS:
            path = folder / f"{mart}.parquet"
            if path.exists():
                con.execute(
                    f"create view {mart} as select * from read_parquet('{path.as_posix()}')"
                )
        return collect(con)
    finally:
        con.close()
