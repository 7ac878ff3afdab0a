"""The HTML report people look at after a run: ``{home}/serving/report.html``.

It reads only the published serving marts (``serving/marts.duckdb`` attached read-only, or the
Parquet copies in ``serving/parquet/``), never the working warehouse, so it shows exactly what BI
tools see. The page is self-contained: inline CSS, and charts that are Vega-Lite specifications
built with Altair (``charts.py``) and drawn as SVG in the browser by the vega-embed bundle inlined
in the page — no external requests. Every chart also has its numbers in a Data table.

Charts: CAC and ROAS by channel over time (``kpi_channel_monthly``), LTV:CAC by segment
(``kpi_segment_monthly``), the B2B funnel (``kpi_b2b_monthly``), the cohort retention heat map
(``fct_cohort_retention``), segment sizes and month-over-month movements
(``fct_segment_membership_monthly``, else current sizes from ``dim_customers`` / ``dim_accounts``).
Every chart degrades to a "no data in mart X" note when its mart or a needed column is missing,
so the report works while marts are still being added. Column names are matched against a short
list of accepted spellings (see the ``_pick`` calls) and aggregated in DuckDB, so memory stays
bounded whatever the size of the marts.
"""

import html
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template

import dagster as dg
import duckdb
import pandas as pd

from pipelines.core.files import atomic_write_text
from pipelines.core.mart_inputs import empty_marts, entity_rows, export_labels, sides_without_data
from pipelines.core.resources import SegmartHome
from pipelines.core.settings import home_paths, load_config
from pipelines.reporting.charts import (
    bar_chart,
    embed,
    formatted,
    funnel_chart,
    grouped_bars,
    heatmap,
    line_chart,
    page_scripts,
)

TEMPLATE = Path(__file__).resolve().parent / "templates" / "report.html"
REPORT_FILE = "report.html"
SERVING_DB = "marts.duckdb"

# Which attribution model the channel charts show when the mart holds several.
PREFERRED_ATTRIBUTION_MODELS = ("linear", "position_based", "last_touch", "first_touch")
# Segment columns whose sizes and movements are charted (membership fact, then dims).
SEGMENT_COLUMNS = {
    "rfm_segment": ("Customers by RFM segment", "dim_customers"),
    "value_tier": ("Accounts by value tier", "dim_accounts"),
    "lifecycle_stage": ("Accounts by lifecycle stage", "dim_accounts"),
}
MAX_CHANNELS = 8
MAX_COHORTS = 12
MAX_MONTHS_SINCE = 12
LTV_CAC_BENCHMARK = 3.0


# --------------------------------------------------------------------------- public API


def build_report(home: str | os.PathLike | None = None) -> Path:
    """Render the report from the serving marts of ``home``; returns ``{home}/serving/report.html``."""
    return render_report(home).path


@dataclass(frozen=True)
class Chart:
    """One section of the report: rendered HTML, or the reason it has no data."""

    chart_id: str
    title: str
    subtitle: str = ""
    body: str = ""
    missing: str | None = None

    def html(self) -> str:
        content = f'<div class="nodata">{self.missing}</div>' if self.missing else self.body
        subtitle = f'<p class="subtitle">{_esc(self.subtitle)}</p>' if self.subtitle else ""
        return (
            f'<section class="chart" id="chart-{self.chart_id}">'
            f"<h2>{_esc(self.title)}</h2>{subtitle}{content}</section>"
        )


@dataclass(frozen=True)
class ReportResult:
    path: Path
    charts: list[Chart]

    @property
    def charts_without_data(self) -> list[str]:
        return [c.chart_id for c in self.charts if c.missing]


def render_report(home: str | os.PathLike | None = None) -> ReportResult:
    """Build every chart, write the page atomically and say which charts had no data."""
    paths = home_paths(home)
    paths.serving.mkdir(parents=True, exist_ok=True)
    config = load_config(paths.root)
    currency = (config.get("dbt_vars") or {}).get("reporting_currency", "")
    with ServingMarts(paths.serving) as marts:
        charts = [
            _guard("inputs", "What landed", lambda: _inputs_section(paths.raw, marts)),
            *_channel_charts(marts, currency),
            _guard("ltv-cac", "LTV:CAC by segment", lambda: _ltv_cac_chart(marts)),
            _guard("funnel", "B2B funnel", lambda: _funnel_chart(marts)),
            _guard("cohort-retention", "Cohort retention", lambda: _cohort_chart(marts)),
            _guard("credit-by-model", CREDIT_TITLE, lambda: _credit_by_model(marts)),
            _guard("clv-holdout", CLV_TITLE, lambda: _clv_holdout(marts)),
            *_segment_charts(marts),
        ]
        source = marts.description
    published = _published_info(paths.serving)
    page = Template(TEMPLATE.read_text()).substitute(
        title="segmart — marketing KPI report",
        subtitle=_esc(
            f"Built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from {source}"
            + (f" · {published}" if published else "")
        ),
        sections="\n".join(chart.html() for chart in charts),
        scripts=page_scripts(),
        footer=_esc(
            "Numbers come from the published serving marts only; a chart without data names the "
            "mart or column it is waiting for."
        ),
    )
    target = paths.serving / REPORT_FILE
    atomic_write_text(target, page, mode=0o644)
    return ReportResult(target, charts)


def build_report_asset(dep_key: dg.AssetKey | Sequence[str]) -> dg.AssetsDefinition:
    """The Dagster asset ``serving/report``: rebuilt after every publish of ``dep_key``.

    (No ``from __future__ import annotations`` in this module: Dagster inspects the real
    annotation types of ``context`` and the resource parameter.)
    """

    @dg.asset(
        key=["serving", "report"],
        group_name="serving",
        deps=[dep_key],
        kinds={"html"},
        description=(
            "Self-contained HTML report (CAC and ROAS by channel, LTV:CAC by segment, B2B "
            "funnel, cohort retention, segment sizes and movements) built from the published "
            "serving marts: {home}/serving/report.html."
        ),
    )
    def serving_report(context: dg.AssetExecutionContext, segmart: SegmartHome):
        result = render_report(segmart.paths.root)
        missing = result.charts_without_data
        if missing:
            context.log.warning(f"report charts without data: {', '.join(missing)}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(result.path)),
                "url": dg.MetadataValue.url(result.path.as_uri()),
                "charts": len(result.charts),
                "charts_without_data": dg.MetadataValue.json(missing),
                "size_bytes": result.path.stat().st_size,
            }
        )

    return serving_report


# --------------------------------------------------------------------------- reading marts


class _NoData(Exception):
    """A chart cannot be drawn; the message (HTML) says what is missing."""


class ServingMarts:
    """Read-only access to the published marts: the serving DuckDB file, else its Parquet copy."""

    def __init__(self, serving_dir: Path):
        self.con = duckdb.connect()
        self._relations: dict[str, str] = {}
        db = serving_dir / SERVING_DB
        parquet_dir = serving_dir / "parquet"
        if db.exists():
            self.con.execute(f"attach {_sql_str(str(db))} as serving (read_only)")
            rows = self.con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = 'serving' "
                "order by table_schema <> 'main', table_schema, table_name"
            ).fetchall()
            for schema, table in rows:
                self._relations.setdefault(table, f"serving.{_ident(schema)}.{_ident(table)}")
            self.description = str(db)
        elif parquet_dir.is_dir():
            for file in sorted(parquet_dir.glob("[!.]*.parquet")):  # not a publish's temp file
                self._relations[file.stem] = f"read_parquet({_sql_str(str(file))})"
            self.description = str(parquet_dir)
        else:
            self.description = f"{serving_dir} (nothing published yet)"

    def __enter__(self) -> "ServingMarts":
        return self

    def __exit__(self, *exc) -> None:
        self.con.close()

    def relation(self, mart: str) -> str:
        if mart not in self._relations:
            raise _NoData(f"No data in mart <code>{_esc(mart)}</code> (not published yet).")
        return self._relations[mart]

    def columns(self, mart: str) -> dict[str, str]:
        """Column name (lower case) → DuckDB type of a published mart."""
        rows = self.con.execute(f"describe select * from {self.relation(mart)}").fetchall()
        return {row[0].lower(): str(row[1]).upper() for row in rows}

    def df(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()


def _pick(cols: dict[str, str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in cols), None)


def _need(mart: str, cols: dict[str, str], what: str, *candidates: str) -> str:
    found = _pick(cols, *candidates)
    if found is None:
        names = " / ".join(f"<code>{_esc(c)}</code>" for c in candidates)
        raise _NoData(f"No data in mart <code>{_esc(mart)}</code>: no {what} column ({names}).")
    return found


def _month_expr(column: str, dtype: str) -> str:
    """A ``YYYY-MM`` label from a date, timestamp or text month column."""
    if dtype.startswith(("DATE", "TIMESTAMP")):
        return f"strftime({_ident(column)}, '%Y-%m')"
    return f"substr(cast({_ident(column)} as varchar), 1, 7)"


def _guard(chart_id: str, title: str, build: Callable[[], Chart]) -> Chart:
    try:
        return build()
    except _NoData as exc:
        return Chart(chart_id, title, missing=str(exc))
    except duckdb.Error as exc:
        return Chart(chart_id, title, missing=f"Could not read the mart: {_esc(str(exc))}")


# --------------------------------------------------------------------------- what landed


def _inputs_section(raw_dir: Path, marts: ServingMarts) -> Chart:
    """Rows per raw entity, the marts published empty because none of their inputs landed,
    and the KPIs without a value (kpi_definitions.data_note), in words."""
    rows = entity_rows(raw_dir)
    labels = export_labels()
    landed = [
        (entity, f"{count:,}" if count else "none", "" if count else f"no {labels[entity]} landed")
        for entity, count in rows.items()
    ]
    parts = [
        "<table><tr><th>entity</th><th>raw rows</th><th></th></tr>"
        + "".join(
            f"<tr><td>{_esc(e)}</td><td>{c}</td><td>{_esc(n)}</td></tr>" for e, c, n in landed
        )
        + "</table>"
    ]
    empty = empty_marts(rows)
    if empty:
        items = "".join(
            f"<li><code>{_esc(mart)}</code>: {_esc(reason)}</li>" for mart, reason in empty.items()
        )
        parts.append(f"<h3>Published empty (same columns)</h3><ul>{items}</ul>")
    try:
        has_notes = "data_note" in marts.columns("kpi_definitions")
    except _NoData:  # nothing published yet: the raw layer still says what landed
        has_notes = False
    if has_notes:
        notes = marts.df(
            f"select kpi_name, data_note from {marts.relation('kpi_definitions')} "
            "where not has_data and data_note not like '%is empty' order by kpi_name"
        )
        if len(notes):
            items = "".join(
                f"<li><code>{_esc(k)}</code>: {_esc(n)}</li>"
                for k, n in notes.itertuples(index=False)
            )
            parts.append(f"<h3>KPIs without a value</h3><ul>{items}</ul>")
    subtitle = "; ".join(sides_without_data(rows)) if empty else "every kind of export landed"
    return Chart("inputs", "What landed", subtitle=subtitle, body="".join(parts))


# --------------------------------------------------------------------------- charts: channels


def _channel_charts(marts: ServingMarts, currency: str) -> list[Chart]:
    cac_title, roas_title = "CAC by channel", "ROAS by channel"
    try:
        data, model = _channel_monthly(marts)
    except _NoData as exc:
        return [
            Chart("cac", cac_title, missing=str(exc)),
            Chart("roas", roas_title, missing=str(exc)),
        ]
    except duckdb.Error as exc:
        note = f"Could not read the mart: {_esc(str(exc))}"
        return [Chart("cac", cac_title, missing=note), Chart("roas", roas_title, missing=note)]
    months = sorted(data["month"].unique())
    # CAC and ROAS describe paid acquisition: channels without any ad spend are left out.
    spend = data.groupby("channel")["spend"].sum().sort_values(ascending=False, kind="stable")
    paid = spend[spend > 0].index
    channels = list(paid[:MAX_CHANNELS])
    unpaid, smaller = len(spend) - len(paid), len(paid) - len(channels)
    model_note = f" · attribution model: {model}" if model else ""
    omitted_note = (
        f" · {_plural(smaller, 'smaller paid channel')} not shown" if smaller else ""
    ) + (f" · {_plural(unpaid, 'channel')} without ad spend not shown" if unpaid else "")
    charts = []
    for chart_id, title, column, fmt, axis, what in (
        ("cac", cac_title, "cac", _money(currency), ("CAC", "~s"), "spend / new customers"),
        ("roas", roas_title, "roas", _ratio, ("ROAS (×)", "~g"), "attributed revenue / ad spend"),
    ):
        series = {ch: [_value_at(data, ch, m, column) for m in months] for ch in channels}
        frame = pd.DataFrame(
            [(m, ch, v) for ch, vs in series.items() for m, v in zip(months, vs, strict=True)],
            columns=["x", "series", "value"],
        )
        frame["label"] = formatted(frame["value"], fmt)
        if not any(v is not None for values in series.values() for v in values):
            charts.append(
                Chart(
                    chart_id,
                    title,
                    missing=f"No {column.upper()} values in "
                    "<code>kpi_channel_monthly</code> yet (no spend or no customers).",
                )
            )
            continue
        charts.append(
            Chart(
                chart_id,
                title,
                subtitle=f"Monthly {what}{model_note}{omitted_note}",
                body=embed(chart_id, line_chart(frame, channels, *axis))
                + _table(
                    ["month", *channels],
                    [[m, *(fmt(s[i]) for s in series.values())] for i, m in enumerate(months)],
                ),
            )
        )
    return charts


def _channel_monthly(marts: ServingMarts) -> tuple[pd.DataFrame, str | None]:
    """Spend, new customers, attributed revenue → CAC and ROAS per month and channel."""
    mart = "kpi_channel_monthly"
    rel, cols = marts.relation(mart), marts.columns(mart)
    month = _need(mart, cols, "month", "month", "month_start", "report_month", "period_month")
    channel = _need(mart, cols, "channel", "channel", "channel_group", "channel_grouping")
    spend = _need(mart, cols, "spend", "spend", "spend_rc", "ad_spend")
    new = _pick(cols, "new_customers", "customers_acquired", "new_customers_acquired")
    revenue = _pick(cols, "attributed_revenue", "attributed_revenue_rc", "revenue_attributed")
    cac, roas = _pick(cols, "cac"), _pick(cols, "roas")
    if not (new or cac) and not (revenue or roas):
        raise _NoData(
            f"No data in mart <code>{mart}</code>: neither new customers nor attributed revenue."
        )
    where, params, model = "", [], None
    model_col = _pick(cols, "attribution_model")
    if model_col:
        models = [
            r[0]
            for r in marts.con.execute(
                f"select distinct {_ident(model_col)} from {rel} where {_ident(model_col)} "
                "is not null order by 1"
            ).fetchall()
        ]
        model = next((m for m in PREFERRED_ATTRIBUTION_MODELS if m in models), None)
        model = model or (models[0] if models else None)
        where, params = f"where {_ident(model_col)} = ?", [model]

    def agg(col: str | None, how: str = "sum") -> str:
        return f"{how}({_ident(col)})" if col else "null"

    df = marts.df(
        f"select {_month_expr(month, cols[month])} as month, "
        f"cast({_ident(channel)} as varchar) as channel, "
        f"{agg(spend)} as spend, {agg(new)} as new_customers, {agg(revenue)} as revenue, "
        f"count(*) as n, {agg(cac, 'avg')} as cac_col, {agg(roas, 'avg')} as roas_col "
        f"from {rel} {where} group by all order by 1, 2",
        params,
    )
    if df.empty:
        raise _NoData(f"No data in mart <code>{mart}</code> (no rows).")
    df["channel"] = df["channel"].fillna("(none)")
    df["cac"] = _divide(df["spend"], df["new_customers"]) if new else _single(df, "cac_col")
    df["roas"] = _divide(df["revenue"], df["spend"]) if revenue else _single(df, "roas_col")
    return df, model


def _divide(num: pd.Series, den: pd.Series) -> pd.Series:
    num, den = num.astype("float64"), den.astype("float64")
    return (num / den).where(den > 0)


def _single(df: pd.DataFrame, column: str) -> pd.Series:
    """A precomputed ratio is only usable where one mart row makes the point."""
    return df[column].astype("float64").where(df["n"] == 1)


def _value_at(df: pd.DataFrame, channel: str, month: str, column: str) -> float | None:
    hit = df.loc[(df["channel"] == channel) & (df["month"] == month), column]
    if hit.empty or pd.isna(hit.iloc[0]):
        return None
    return float(hit.iloc[0])


# --------------------------------------------------------------------------- charts: KPIs


def _ltv_cac_chart(marts: ServingMarts) -> Chart:
    """Per segment from kpi_segment_monthly; else the blended B2C value of kpi_b2c_monthly."""
    try:
        return _ltv_cac_by_segment(marts)
    except _NoData as by_segment:
        try:
            chart = _ltv_cac_blended(marts)
        except _NoData as blended:
            raise _NoData(f"{by_segment}<br>{blended}") from None
        return Chart(
            chart.chart_id,
            chart.title,
            subtitle=f"{chart.subtitle} · no LTV:CAC per segment in kpi_segment_monthly yet",
            body=chart.body,
        )


def _ltv_cac_by_segment(marts: ServingMarts) -> Chart:
    mart = "kpi_segment_monthly"
    rel, cols = marts.relation(mart), marts.columns(mart)
    month = _need(mart, cols, "month", "month", "month_start", "report_month", "period_month")
    segment = _need(mart, cols, "segment", "segment", "segment_name", "segment_value")
    seg_type = _pick(cols, "segment_type", "segment_dimension", "segment_kind")
    value = _ltv_cac_expr(mart, cols)
    type_expr = f"cast({_ident(seg_type)} as varchar)" if seg_type else "''"
    df = marts.df(
        f"with v as (select {_month_expr(month, cols[month])} as month, {type_expr} as seg_type, "
        f"cast({_ident(segment)} as varchar) as segment, {value} as value from {rel}) "
        "select * from v where month = (select max(month) from v where value is not null) "
        "and value is not null order by seg_type, value desc, segment"
    )
    if df.empty:
        raise _NoData(f"No data in mart <code>{mart}</code>: no LTV:CAC values yet.")
    if df.duplicated(["seg_type", "segment"]).any():
        raise _NoData(
            f"No data in mart <code>{mart}</code> usable here: several rows per segment and month."
        )
    items = [(r.seg_type, r.segment, float(r.value)) for r in df.itertuples()]
    return _ltv_cac_bars(items, f"{df['month'].iloc[0]}")


def _ltv_cac_blended(marts: ServingMarts) -> Chart:
    mart = "kpi_b2c_monthly"
    rel, cols = marts.relation(mart), marts.columns(mart)
    month = _need(mart, cols, "month", "month", "month_start", "report_month", "period_month")
    value = _ltv_cac_expr(mart, cols)
    row = marts.con.execute(
        f"with v as (select {_month_expr(month, cols[month])} as month, {value} as value "
        f"from {rel}) select month, value from v where value is not null "
        "order by month desc limit 1"
    ).fetchone()
    if row is None:
        raise _NoData(f"No data in mart <code>{mart}</code>: no LTV:CAC values yet.")
    return _ltv_cac_bars([("", "All B2C customers (blended)", float(row[1]))], f"{row[0]}")


def _ltv_cac_expr(mart: str, cols: dict[str, str]) -> str:
    ratio = _pick(cols, "ltv_to_cac", "ltv_cac_ratio", "ltv_cac")
    if ratio:
        return f"cast({_ident(ratio)} as double)"
    ltv = _need(mart, cols, "LTV:CAC or LTV", "ltv_to_cac", "ltv_cac_ratio", "ltv_cac", "ltv")
    cac = _need(mart, cols, "CAC", "cac", "blended_cac")
    return f"cast({_ident(ltv)} as double) / nullif(cast({_ident(cac)} as double), 0)"


def _ltv_cac_bars(items: list[tuple[str, str, float]], month: str) -> Chart:
    return Chart(
        "ltv-cac",
        "LTV:CAC by segment",
        subtitle=f"{month} · dashed line: {LTV_CAC_BENCHMARK:g}:1 rule of thumb",
        body=embed(
            "ltv-cac", bar_chart(_bars(items, _ratio), "LTV:CAC", "~g", reference=LTV_CAC_BENCHMARK)
        )
        + _table(["segment type", "segment", "LTV:CAC"], [[g, s, _ratio(v)] for g, s, v in items]),
    )


FUNNEL_STAGES = (
    ("Leads", ("leads", "leads_created", "new_leads")),
    ("MQLs", ("mqls", "mql", "leads_mql")),
    ("SQLs", ("sqls", "sql", "leads_sql")),
    ("Opportunities", ("opportunities_created", "opportunities", "opps_created")),
    ("Won", ("opportunities_won", "won", "deals_won", "won_deals")),
)


# The lead-cohort funnel (each stage a subset of the one before) first, else monthly volumes.
FUNNEL_MARTS = {
    "kpi_b2b_funnel_monthly": "leads by creation month and how far they got",
    "kpi_b2b_monthly": "stage events counted in the month they happened",
}


def _funnel_chart(marts: ServingMarts) -> Chart:
    notes = []
    for mart, meaning in FUNNEL_MARTS.items():
        try:
            return _funnel_from(marts, mart, meaning)
        except _NoData as exc:
            notes.append(str(exc))
    raise _NoData("<br>".join(notes))


def _funnel_from(marts: ServingMarts, mart: str, meaning: str) -> Chart:
    rel, cols = marts.relation(mart), marts.columns(mart)
    month = _pick(cols, "month", "month_start", "report_month", "period_month")
    stages = [(label, _pick(cols, *names)) for label, names in FUNNEL_STAGES]
    present = [(label, col) for label, col in stages if col]
    if len(present) < 2:
        raise _NoData(
            f"No data in mart <code>{mart}</code>: fewer than two funnel stage columns "
            "(<code>leads</code>, <code>mqls</code>, <code>sqls</code>, "
            "<code>opportunities_created</code>, <code>won_deals</code>)."
        )
    sums = ", ".join(f"sum({_ident(col)})" for _, col in present)
    span = (
        f", min({_month_expr(month, cols[month])}), max({_month_expr(month, cols[month])})"
        if month
        else ""
    )
    row = marts.con.execute(f"select {sums}{span} from {rel}").fetchone()
    values = [float(v or 0) for v in row[: len(present)]]
    if not any(values):
        raise _NoData(f"No data in mart <code>{mart}</code> (no leads or deals yet).")
    period = f"{row[-2]} to {row[-1]}" if month and row[-2] else "all rows"
    skipped = [label for label, col in stages if not col]
    note = f" · stages not in the mart: {', '.join(skipped)}" if skipped else ""
    labels = [label for label, _ in present]
    return Chart(
        "funnel",
        "B2B funnel",
        subtitle=f"{mart}: {meaning}, totals {period}; percentages are conversion from the "
        f"previous stage{note}",
        body=embed("funnel", funnel_chart(_funnel_frame(labels, values)))
        + _table(
            ["stage", "count", "from previous"],
            [
                [lab, _count(v), _pct(v / values[i - 1]) if i and values[i - 1] else ""]
                for i, (lab, v) in enumerate(zip(labels, values, strict=True))
            ],
        )
        + _funnel_by_channel(marts, rel, cols, present),
    )


def _funnel_by_channel(marts: ServingMarts, rel: str, cols: dict[str, str], present) -> str:
    """The same stages per channel, as a table, when the mart has a channel column."""
    channel = _pick(cols, "channel", "channel_group")
    if not channel:
        return ""
    sums = ", ".join(f"sum({_ident(col)})" for _, col in present)
    rows = marts.con.execute(
        f"select cast({_ident(channel)} as varchar), {sums} from {rel} "
        f"group by 1 order by 2 desc nulls last, 1"
    ).fetchall()
    first, last = present[0][0], present[-1][0]
    body = [
        [ch or "(none)", *(_count(float(v or 0)) for v in vals),
         _pct(float(vals[-1] or 0) / float(vals[0])) if vals[0] else ""]
        for ch, *vals in rows
    ]  # fmt: skip
    header = ["channel", *(label for label, _ in present), f"{first} → {last}"]
    return _table(header, body, summary="By channel")


def _cohort_chart(marts: ServingMarts) -> Chart:
    mart = "fct_cohort_retention"
    rel, cols = marts.relation(mart), marts.columns(mart)
    cohort = _need(mart, cols, "cohort month", "cohort_month", "acquisition_month", "cohort")
    since = _need(
        mart, cols, "months-since", "months_since_acquisition", "months_since_first_order",
        "months_since", "month_number", "period_number",
    )  # fmt: skip
    retained = _pick(cols, "customers_retained", "retained_customers", "active_customers")
    size = _pick(cols, "cohort_customers", "cohort_size", "cohort_customer_count")
    rate = _pick(cols, "retention_rate", "customer_retention_rate")
    if not (retained or rate):
        raise _NoData(
            f"No data in mart <code>{mart}</code>: no <code>customers_retained</code> or "
            "<code>retention_rate</code> column."
        )
    df = marts.df(
        f"select {_month_expr(cohort, cols[cohort])} as cohort, "
        f"cast({_ident(since)} as integer) as since, "
        f"{f'sum({_ident(retained)})' if retained else 'null'} as retained, "
        f"{f'sum({_ident(size)})' if size else 'null'} as size, "
        f"{f'avg({_ident(rate)})' if rate else 'null'} as rate_col, count(*) as n "
        f"from {rel} where {_ident(since)} between 0 and {MAX_MONTHS_SINCE} "
        "group by all order by 1, 2"
    )
    if df.empty:
        raise _NoData(f"No data in mart <code>{mart}</code> (no rows).")
    if retained:
        base = (
            df["size"]
            if size
            else df["cohort"].map(df[df["since"] == 0].set_index("cohort")["retained"])
        )
        df["rate"] = _divide(df["retained"], base)
    else:
        df["rate"] = _single(df, "rate_col")
    cohorts = sorted(df["cohort"].unique())
    shown = cohorts[-MAX_COHORTS:]
    periods = list(range(int(df["since"].max()) + 1))
    cells = {(r.cohort, int(r.since)): r.rate for r in df.itertuples() if pd.notna(r.rate)}
    older = len(cohorts) - len(shown)
    return Chart(
        "cohort-retention",
        "Cohort retention",
        subtitle="Share of each acquisition cohort still buying N months later"
        + (f" · latest {len(shown)} cohorts ({older} older not shown)" if older else ""),
        body=embed("cohort-retention", heatmap(
            _cells({(c, str(p)): v for (c, p), v in cells.items() if c in shown}, _pct),
            shown, [str(p) for p in periods], 1.0, "cohort", "months since acquisition",
            cell_name="cohort {row}, month {col}"))
        + _table(["cohort", *map(str, periods)],
                 [[c, *(_pct(cells[(c, p)]) if (c, p) in cells else "" for p in periods)]
                  for c in shown]),
    )  # fmt: skip


# --------------------------------------------------------------------------- charts: models

CREDIT_TITLE = "Channel credit by attribution model"
CLV_TITLE = "Predicted CLV on held-out time"
# Rule-based models first, then the data-driven ones (pipelines/attribution).
MODEL_ORDER = ("first_touch", "last_touch", "linear", "position_based", "time_decay", "markov",
               "shapley")  # fmt: skip


def _credit_by_model(marts: ServingMarts) -> Chart:
    """Each model's share of the attributed conversions per channel, models side by side."""
    mart = "kpi_channel_monthly_by_model"
    rel, cols = marts.relation(mart), marts.columns(mart)
    channel = _need(mart, cols, "channel", "channel", "channel_group")
    model = _need(mart, cols, "attribution model", "attribution_model")
    counted = [c for c in ("orders", "won_deals", "leads") if c in cols]
    if not counted:
        raise _NoData(
            f"No data in mart <code>{mart}</code>: no <code>orders</code>, "
            "<code>won_deals</code> or <code>leads</code> column."
        )
    credit = " + ".join(f"coalesce(sum({_ident(c)}), 0)" for c in counted)
    df = marts.df(
        f"select cast({_ident(model)} as varchar) as model, "
        f"coalesce(cast({_ident(channel)} as varchar), '(none)') as channel, "
        f"{credit} as credit from {rel} group by all"
    )
    df["total"] = df.groupby("model")["credit"].transform("sum")
    df = df[df["total"] > 0]
    if df.empty:
        raise _NoData(f"No data in mart <code>{mart}</code>: no attributed conversions yet.")
    df["value"] = df["credit"] / df["total"]
    present = list(dict.fromkeys(df["model"]))
    order = [m for m in MODEL_ORDER if m in present] + sorted(set(present) - set(MODEL_ORDER))
    ranking = df.groupby("channel")["value"].mean().sort_values(ascending=False, kind="stable")
    channels = list(ranking.index[:MAX_CHANNELS])
    shown = df[df["channel"].isin(channels)].rename(columns={"channel": "category"})
    shown = shown.assign(series=shown["model"], text=formatted(shown["value"], _pct))
    shown = shown.set_index("category").loc[channels].reset_index()
    smaller = len(ranking) - len(channels)
    what = " + ".join(counted)
    return Chart(
        "credit-by-model",
        CREDIT_TITLE,
        subtitle=f"Share of all attributed conversions ({what}) each model gives a channel, "
        "all months" + (f" · {_plural(smaller, 'smaller channel')} not shown" if smaller else ""),
        body=embed("credit-by-model", grouped_bars(shown, order, "share of conversions", ".0%"))
        + _table(["channel", *order],
                 [[ch, *(_pct(_lookup(shown, ch, m)) for m in order)] for ch in channels]),
    )  # fmt: skip


def _day(value: object) -> str:
    return "" if pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def _lookup(frame: pd.DataFrame, category: str, series: str) -> float | None:
    hit = frame.loc[(frame["category"] == category) & (frame["series"] == series), "value"]
    return None if hit.empty else float(hit.iloc[0])


def _clv_holdout(marts: ServingMarts) -> Chart:
    """Predicted vs actual purchases in the holdout weeks and per calibration frequency."""
    mart = "fct_clv_holdout"
    rel = marts.relation(mart)
    df = marts.df(f"select * from {rel} order by comparison, bucket_order")
    if df.empty:
        raise _NoData(
            f"No data in mart <code>{mart}</code>: no CLV fit yet (too little order history "
            "or no holdout period)."
        )
    status = str(df["fit_status"].iloc[0])
    if df["predicted_purchases"].isna().all():
        raise _NoData(f"No predictions in <code>{mart}</code>: CLV fit status {_esc(status)}.")
    weeks = df[df["comparison"] == "week"]
    freq = df[df["comparison"] == "frequency"]
    cumulative = pd.concat(
        [
            pd.DataFrame({"x": weeks["bucket_label"], "series": label, "value": weeks[col]})
            for label, col in (("actual", "cumulative_actual_purchases"),
                               ("predicted", "cumulative_predicted_purchases"))
        ]
    )  # fmt: skip
    cumulative["label"] = formatted(cumulative["value"], _count)
    per_bucket = pd.concat(
        [
            pd.DataFrame({"category": freq["bucket_label"], "series": label, "value": freq[col]})
            for label, col in (("actual", "actual_purchases_per_customer"),
                               ("predicted", "predicted_purchases_per_customer"))
        ]
    )  # fmt: skip
    per_bucket["text"] = formatted(per_bucket["value"], lambda v: f"{v:.2f}")
    series = ["actual", "predicted"]
    first = df.iloc[0]
    body = ""
    if len(weeks):
        chart = line_chart(cumulative, series, "purchases", "~s", series_title="",
                           x_title="holdout week")  # fmt: skip
        body += "<h3>Cumulative purchases, week by week</h3>"
        body += embed("clv-holdout-weeks", chart)
    if len(freq):
        chart = grouped_bars(per_bucket, series, "purchases per customer", ".2~f")
        body += "<h3>Purchases per customer, by repeat purchases in calibration</h3>"
        body += embed("clv-holdout-frequency", chart)
    table = _table(
        ["comparison", "bucket", "customers", "actual", "predicted"],
        [[r.comparison, r.bucket_label, _count(r.customers), f"{r.actual_purchases:,.1f}",
          "" if pd.isna(r.predicted_purchases) else f"{r.predicted_purchases:,.1f}"]
         for r in df.itertuples()],
    )  # fmt: skip
    return Chart(
        "clv-holdout",
        CLV_TITLE,
        subtitle=f"BG/NBD fitted on purchases to {_day(first['calibration_end'])}, predicting "
        f"the holdout to {_day(first['holdout_end'])} · fit status {status}",
        body=body + table,
    )


# --------------------------------------------------------------------------- charts: segments


def _segment_charts(marts: ServingMarts) -> list[Chart]:
    """One section for sizes and one for movements, each with a part per segment column."""
    sizes, moves = [], []
    for column, (label, dim) in SEGMENT_COLUMNS.items():
        sizes.append(
            (label, _guard("segment-sizes", label, lambda c=column, d=dim: _sizes(marts, c, d)))
        )
        moves.append((label, _guard("segment-movements", label, lambda c=column: _moves(marts, c))))
    return [
        _combine("segment-sizes", "Segment sizes", "Members per segment, latest month", sizes),
        _combine("segment-movements", "Segment movements",
                 "Members moving between segments from the previous month to the latest; "
                 "diagonal = stayed", moves),
    ]  # fmt: skip


def _combine(chart_id: str, title: str, subtitle: str, parts: list[tuple[str, Chart]]) -> Chart:
    if all(chart.missing for _, chart in parts):  # counts as a chart without data
        notes = "<br>".join(f"{_esc(label)}: {chart.missing}" for label, chart in parts)
        return Chart(chart_id, title, missing=notes)
    body = "".join(_part(label, chart) for label, chart in parts)
    return Chart(chart_id, title, subtitle=subtitle, body=body)


def _part(label: str, chart: Chart) -> str:
    inner = f'<div class="nodata">{chart.missing}</div>' if chart.missing else chart.body
    sub = f'<p class="note">{_esc(chart.subtitle)}</p>' if chart.subtitle else ""
    return f'<h3 data-segment="{_esc(label)}">{_esc(label)}</h3>{sub}{inner}'


MEMBERSHIP = "fct_segment_membership_monthly"


def _membership(marts: ServingMarts, column: str) -> tuple[str, dict[str, str], str, list[str]]:
    """The membership rows of one segment column, its month expression and latest two months.

    Accepts the long form (``segment_type`` / ``segment_value``, one row per month, entity and
    segment type: what the dbt mart publishes) and a wide form with one column per segment type.
    """
    rel, cols = marts.relation(MEMBERSHIP), marts.columns(MEMBERSHIP)
    month = _need(
        MEMBERSHIP, cols, "month", "month", "month_start", "snapshot_month", "as_of_month"
    )
    if column not in cols and {"segment_type", "segment_value"} <= cols.keys():
        rel = (
            f"(select *, segment_value as {_ident(column)} from {rel} "
            f"where segment_type = {_sql_str(column)}) as membership"
        )
        cols = {**cols, column: cols["segment_value"]}
    _need(MEMBERSHIP, cols, column, column)
    month_expr = _month_expr(month, cols[month])
    months = [
        r[0]
        for r in marts.con.execute(
            f"select distinct {month_expr} as m from {rel} "
            f"where {_ident(column)} is not null order by m desc limit 2"
        ).fetchall()
    ]
    if not months:
        raise _NoData(
            f"No data in mart <code>{MEMBERSHIP}</code>: no <code>{column}</code> values."
        )
    return rel, cols, month_expr, months


def _sizes(marts: ServingMarts, column: str, dim: str) -> Chart:
    try:
        rel, _, month_expr, months = _membership(marts, column)
        where, source = f"where {month_expr} = ?", f"{MEMBERSHIP}, {months[0]}"
        params = [months[0]]
    except _NoData:
        rel, cols = marts.relation(dim), marts.columns(dim)
        _need(dim, cols, column, column)
        where, source, params = "", f"{dim} (current; no monthly history yet)", []
    df = marts.df(
        f"select cast({_ident(column)} as varchar) as segment, count(*) as members from {rel} "
        f"{where} {'and' if where else 'where'} {_ident(column)} is not null "
        "group by 1 order by 2 desc, 1",
        params,
    )
    if df.empty:
        raise _NoData(f"No data in mart <code>{dim}</code>: no <code>{column}</code> values.")
    items = [("", r.segment, float(r.members)) for r in df.itertuples()]
    return Chart(
        "segment-sizes",
        column,
        subtitle=f"source: {source}",
        body=embed(f"sizes-{column}", bar_chart(_bars(items, _count), "members", "~s"))
        + _table(["segment", "members"], [[s, _count(v)] for _, s, v in items]),
    )


def _moves(marts: ServingMarts, column: str) -> Chart:
    rel, cols, month_expr, months = _membership(marts, column)
    if len(months) < 2:
        raise _NoData(f"Only one month in <code>{MEMBERSHIP}</code> so far: no movements yet.")
    if "entity_id" in cols:
        keys = [c for c in ("entity_type", "entity_id") if c in cols]
    else:
        keys = [c for c in ("customer_id", "account_id", "person_key") if c in cols][:1]
    if not keys:
        raise _NoData(
            f"No entity key column in <code>{MEMBERSHIP}</code> (<code>entity_id</code>)."
        )
    key_list = ", ".join(_ident(k) for k in keys)
    seg = _ident(column)
    df = marts.df(
        f"with prev as (select {key_list}, cast({seg} as varchar) as seg from {rel} "
        f"where {month_expr} = ? and {seg} is not null), "
        f"cur as (select {key_list}, cast({seg} as varchar) as seg from {rel} "
        f"where {month_expr} = ? and {seg} is not null) "
        "select coalesce(prev.seg, '(new)') as from_seg, coalesce(cur.seg, '(left)') as to_seg, "
        f"count(*) as members from prev full outer join cur using ({key_list}) "
        "group by all order by 1, 2",
        [months[1], months[0]],
    )
    segments = sorted((set(df["from_seg"]) | set(df["to_seg"])) - {"(new)", "(left)"})
    rows = [*segments, *(["(new)"] if "(new)" in set(df["from_seg"]) else [])]
    columns = [*segments, *(["(left)"] if "(left)" in set(df["to_seg"]) else [])]
    cells = {(r.from_seg, r.to_seg): float(r.members) for r in df.itertuples()}
    off_diagonal = [v for (a, b), v in cells.items() if a != b]
    return Chart(
        "segment-movements",
        column,
        subtitle=f"{months[1]} → {months[0]}: {_count(sum(off_diagonal))} moved",
        body=embed(f"moves-{column}", heatmap(
            _cells(cells, _count, muted_diagonal=True), rows, columns,
            max(off_diagonal, default=1.0), "from", "to"))
        + _table(["from", "to", "members"], [[a, b, _count(v)] for (a, b), v in cells.items()]),
    )  # fmt: skip


# --------------------------------------------------------------------------- chart data


def _bars(items: Sequence[tuple[str, str, float]], fmt: Callable[[float], str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(items), columns=["group", "label", "value"])
    frame["text"] = formatted(frame["value"], fmt)
    return frame


def _funnel_frame(labels: Sequence[str], values: Sequence[float]) -> pd.DataFrame:
    texts = [
        _count(v) + (f" · {_pct(v / values[i - 1])} of {labels[i - 1]}" if i and values[i - 1]
                     else "")
        for i, v in enumerate(values)
    ]  # fmt: skip
    return pd.DataFrame({"stage": list(labels), "value": list(values), "text": texts})


def _cells(
    cells: dict[tuple[str, str], float], fmt: Callable[[float], str], muted_diagonal: bool = False
) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(r, c, v) for (r, c), v in cells.items()], columns=["row", "col", "value"]
    )
    frame["text"] = formatted(frame["value"], fmt)
    frame["muted"] = (frame["row"] == frame["col"]) & muted_diagonal
    return frame


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], summary: str = "Data") -> str:
    head = "".join(f"<th>{_esc(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f"<details><summary>{_esc(summary)}</summary><table><tr>{head}</tr>{body}</table></details>"
    )


# --------------------------------------------------------------------------- formatting, files


def _money(currency: str) -> Callable[[float | None], str]:
    def fmt(v: float | None) -> str:
        return "" if v is None else f"{v:,.2f} {currency}".strip()

    return fmt


def _ratio(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}×"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:.1%}"


def _count(v: float) -> str:
    return f"{v:,.0f}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _published_info(serving: Path) -> str:
    """Run id and time of the publish, from ``_published.json`` when the publisher wrote one."""
    for candidate in (serving / "_published.json", serving / "parquet" / "_published.json"):
        if candidate.exists():
            try:
                info = json.loads(candidate.read_text())
            except (OSError, ValueError):
                return ""
            bits = [f"{k}: {info[k]}" for k in ("run_id", "published_at") if info.get(k)]
            return "published " + ", ".join(bits) if bits else ""
    return ""
