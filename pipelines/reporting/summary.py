"""The terminal summary printed after `segmart run` / `segmart demo`."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.settings import home_paths

HEADLINES = {
    "Ad spend (reporting currency)": "select sum(spend) from kpi_channel_monthly",
    "New customers": "select sum(new_customers) from kpi_channel_monthly",
    "Blended CAC": "select sum(spend) / nullif(sum(new_customers), 0) from kpi_channel_monthly",
    "B2C customers": "select count(*) from dim_customers",
    "Average order value": "select sum(net_revenue) / nullif(sum(orders), 0) from dim_customers",
    "Accounts": "select count(*) from dim_accounts",
    "Key accounts": "select count(*) from dim_accounts where value_tier = 'key account'",
    # read from the mart, so it is the figure BI users see (= dim_accounts.first_won_at)
    "New B2B accounts (first won deal)": "select sum(new_accounts) from kpi_b2b_monthly",
}


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
        lines += ["", "Headline KPIs:"]
        for label, sql in HEADLINES.items():
            try:
                value = con.execute(sql).fetchone()[0]
            except duckdb.Error:
                continue
            shown = (
                f"{value:,.2f}"
                if isinstance(value, float)
                else f"{value:,}"
                if value is not None
                else "n/a"
            )
            lines.append(f"  {label:<40} {shown:>14}")
    return "\n".join(lines)
