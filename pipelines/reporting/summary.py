"""The terminal summary printed after `segmart run` (and so after `make demo`)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.core.mart_inputs import empty_marts, entity_rows, export_labels
from pipelines.core.settings import home_paths

ADS = ("ad_spend_daily",)
CUSTOMERS = ("orders", "opportunities")  # a first purchase or a first won deal
ACCOUNTS = ("accounts", "leads", "opportunities")  # account exports, or accounts deals name
# label: (SQL on the serving copy, the inputs it needs: each tuple is "any one of these")
HEADLINES = {
    "Ad spend (reporting currency)": ("select sum(spend) from kpi_channel_monthly", [ADS]),
    "New customers": ("select sum(new_customers) from kpi_channel_monthly", [CUSTOMERS]),
    "Blended CAC": (
        "select sum(spend) / nullif(sum(new_customers), 0) from kpi_channel_monthly",
        [ADS, CUSTOMERS],
    ),
    "B2C customers": ("select count(*) from dim_customers", [("orders",)]),
    "Average order value": (
        "select sum(net_revenue) / nullif(sum(orders), 0) from dim_customers",
        [("orders",)],
    ),
    "Accounts": ("select count(*) from dim_accounts", [ACCOUNTS]),
    "Key accounts": (
        "select count(*) from dim_accounts where value_tier = 'key account'",
        [ACCOUNTS],
    ),
    # read from the mart, so it is the figure BI users see (= dim_accounts.first_won_at)
    "New B2B accounts (first won deal)": (
        "select sum(new_accounts) from kpi_b2b_monthly",
        [("opportunities",)],
    ),
}
NO_INPUTS = "—"  # a KPI whose inputs did not land has no value, not 0.00


def landed_lines(raw_dir: Path, detailed: bool = True) -> list[str]:
    """What landed, per raw entity, and the marts published empty because nothing fed them
    (``detailed=False``: two lines)."""
    rows = entity_rows(raw_dir)
    labels = export_labels()
    if not detailed:
        landed = [f"{entity} {count:,} rows" for entity, count in rows.items() if count]
        lines = [f"Landed: {'; '.join(landed) or 'nothing'}"]
        missing = [f"no {labels[entity]}" for entity, count in rows.items() if not count]
        empty = empty_marts(rows)
        if missing:
            lines.append(
                f"Not landed: {', '.join(missing)}: {len(empty)} marts published empty "
                "(which: `segmart run --verbose`, or kpi_definitions.data_note)"
            )
        return lines
    lines = ["What landed (raw rows per entity):"]
    for entity, count in rows.items():
        shown = f"{count:>12,}" if count else f"{'none':>12}  no {labels[entity]} landed"
        lines.append(f"  {entity:<40} {shown}")
    empty = empty_marts(rows)
    if empty:
        lines += ["", "Published empty (same columns) because their inputs did not land:"]
        lines += [f"  {mart:<40} {reason}" for mart, reason in empty.items()]
    return lines


def headline_value(value: object, needs: list[tuple[str, ...]], rows: dict[str, int]) -> str:
    """``—`` when one of the inputs the KPI needs has no rows; else the value (``n/a`` when
    the inputs landed but the value is undefined, e.g. a division by zero)."""
    if not all(any(rows.get(e, 0) > 0 for e in group) for group in needs):
        return NO_INPUTS
    if value is None:
        return "n/a"
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"


def summarise(home: str | Path, rows_per_mart: bool = True) -> str:
    """The summary; ``rows_per_mart=False`` (a quiet ``segmart run``) counts the marts and
    their rows in one line instead of one line per mart."""
    paths = home_paths(home)
    serving = paths.serving / "marts.duckdb"
    lines = [f"segmart home: {paths.root}"]
    if not serving.exists():
        lines.append("No serving copy published yet (a check failed or the run did not finish).")
        return "\n".join(lines)
    lines += [
        f"Marts (DuckDB, open read-only): {serving}",
        f"Marts (Parquet):                {paths.serving / 'parquet'}",
        f"Quality reports:                {paths.quality}",
    ]
    with duckdb.connect(str(serving), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables order by table_name"
            ).fetchall()
        ]
        counts = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
        if rows_per_mart:
            lines += ["", "Rows per mart:"]
            lines += [f"  {table:<40} {count:>12,}" for table, count in counts.items()]
        else:
            lines.append(
                f"Marts: {len(counts)} tables, {sum(counts.values()):,} rows "
                "(rows per mart: `segmart run --verbose`, or the report)"
            )
        rows = entity_rows(paths.raw)
        lines += ["", *landed_lines(paths.raw, rows_per_mart), "", "Headline KPIs:"]
        for label, (sql, needs) in HEADLINES.items():
            try:
                value = con.execute(sql).fetchone()[0]
            except duckdb.Error:
                continue
            lines.append(f"  {label:<40} {headline_value(value, needs, rows):>14}")
    return "\n".join(lines)
