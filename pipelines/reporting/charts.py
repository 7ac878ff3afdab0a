"""The report's charts, as Vega-Lite specifications built with Altair.

Each builder takes the numbers a chart shows (already aggregated in DuckDB by ``report.py``)
and returns an ``alt.Chart``; ``embed`` turns it into the HTML the page carries: an empty
``<div>`` and the specification as JSON in a ``<script type="application/json">`` block.
``page_scripts`` returns the Vega / Vega-Lite / vega-embed bundle that ships inside the
``vl-convert-python`` wheel (no network, no CDN) and the few lines that render every
specification on the page as SVG, so the report stays one self-contained offline file.

Text from the exports (channel, campaign and segment names) only ever travels as JSON data:
``embed`` escapes ``<``, ``>`` and ``&`` inside the JSON, Vega draws it as SVG text nodes, and
vega-embed's tooltip handler sanitises what it shows, so a name such as
``<script>alert(1)</script>`` is drawn as those characters and never run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache

import altair as alt
import pandas as pd
import vl_convert

PALETTE = (
    "#2f6fb3",
    "#e07b39",
    "#3a9d5d",
    "#c0392b",
    "#8e6bbf",
    "#8c6d3f",
    "#d46aa6",
    "#6b7b8c",
)
MUTED = "#e4e7eb"
WIDTH = 640
FONT = 'system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif'
_CONFIG = {
    "font": FONT,
    "view": {"stroke": None},
    "axis": {"labelColor": "#616e7c", "titleColor": "#616e7c", "gridColor": "#e4e7eb"},
    "legend": {"orient": "bottom", "labelLimit": 220},
}


def line_chart(
    frame: pd.DataFrame,
    order: Sequence[str],
    y_title: str,
    y_format: str,
    series_title: str = "channel",
    x_title: str = "month",
) -> alt.LayerChart:
    """Lines with points; ``frame`` has columns x, series, value, label (value may be null).

    A missing value breaks the line (each run of consecutive values is its own path), so a
    month without customers shows as a gap, not as a zero or a straight bridge.
    """
    xs = list(dict.fromkeys(frame["x"]))
    data = frame.dropna(subset=["value"]).copy()
    position = {x: i for i, x in enumerate(xs)}
    data["run"] = data.groupby("series")["x"].transform(
        lambda s: (s.map(position).diff().fillna(1) != 1).cumsum()
    )
    data["path"] = data["series"] + "\u241f" + data["run"].astype(str)
    data["description"] = data["series"] + " · " + data["x"] + ": " + data["label"]
    color = alt.Color(
        "series:N",
        title=None,
        sort=list(order),
        scale=alt.Scale(domain=list(order), range=list(PALETTE)),
    )
    x = alt.X("x:O", title=None, sort=xs, axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title=y_title, axis=alt.Axis(format=y_format))
    base = alt.Chart(_values(data, ["x", "series", "value", "label", "path", "description"]))
    lines = base.mark_line(strokeWidth=2, aria=False).encode(x=x, y=y, color=color, detail="path:N")
    points = base.mark_point(filled=True, size=36, opacity=1).encode(
        x=x,
        y=y,
        color=color,
        description="description:N",
        tooltip=[
            alt.Tooltip("series:N", title=series_title),
            alt.Tooltip("x:O", title=x_title),
            alt.Tooltip("label:N", title=y_title),
        ],
    )
    return alt.layer(lines, points).properties(width=WIDTH, height=240)


def bar_chart(
    frame: pd.DataFrame, value_title: str, value_format: str, reference: float | None = None
) -> alt.TopLevelMixin:
    """Horizontal bars; ``frame`` has group, label, value, text. One panel per group."""
    groups = list(dict.fromkeys(frame["group"]))
    vmax = float(frame["value"].max()) if len(frame) else 0.0
    if reference is not None:
        vmax = max(vmax, reference * 1.2)
    whole = bool((frame["value"] % 1 == 0).all())  # counts: no 0.5 ticks
    x = alt.X(
        "value:Q",
        title=value_title,
        axis=alt.Axis(format=value_format, **({"tickMinStep": 1} if whole else {})),
        scale=alt.Scale(domain=[0, vmax or 1]),
    )
    y = alt.Y("label:N", title=None, sort=None, axis=alt.Axis(labelLimit=200))
    base = alt.Chart().encode(y=y)
    layers = [
        base.mark_bar(color=PALETTE[0], cornerRadiusEnd=2).encode(
            x=x,
            description="description:N",
            tooltip=[alt.Tooltip("label:N", title="segment"), alt.Tooltip("text:N")],
        ),
        base.mark_text(align="left", dx=4, color="#334e68", aria=False).encode(x=x, text="text:N"),
    ]
    if reference is not None:
        layers.append(
            alt.Chart()
            .mark_rule(color="#9aa5b1", strokeDash=[4, 3], aria=False)
            .encode(x=alt.datum(reference, type="quantitative"))
        )
    rows = max(1, len(frame))
    frame = frame.assign(description=frame["label"] + ": " + frame["text"])
    columns = ["group", "label", "value", "text", "description"]
    layered = alt.layer(*layers, data=_values(frame, columns))
    if len(groups) > 1 or groups[0]:
        return layered.properties(width=WIDTH - 200).facet(
            row=alt.Row("group:N", title=None, sort=groups, header=alt.Header(labelAngle=0,
                        labelAlign="left", labelAnchor="start", labelFontWeight="bold",
                        labelOrient="top")),
        ).resolve_scale(y="independent")  # fmt: skip
    return layered.properties(width=WIDTH - 200, height=22 * rows)


def grouped_bars(
    frame: pd.DataFrame, order: Sequence[str], value_title: str, value_format: str
) -> alt.LayerChart:
    """Horizontal bars side by side per category; ``frame`` has category, series, value, text.

    Categories keep the frame's order; within one, a bar per series in ``order``.
    """
    categories = list(dict.fromkeys(frame["category"]))
    data = frame.assign(
        description=frame["category"] + " · " + frame["series"] + ": " + frame["text"]
    )
    color = alt.Color(
        "series:N", title=None, sort=list(order),
        scale=alt.Scale(domain=list(order), range=list(PALETTE)),
    )  # fmt: skip
    base = alt.Chart(_values(data, ["category", "series", "value", "text", "description"])).encode(
        y=alt.Y("category:N", title=None, sort=categories, axis=alt.Axis(labelLimit=200)),
        yOffset=alt.YOffset("series:N", sort=list(order)),
    )
    bars = base.mark_bar().encode(
        x=alt.X("value:Q", title=value_title, axis=alt.Axis(format=value_format)),
        color=color,
        description="description:N",
        tooltip=[alt.Tooltip("category:N", title=""), alt.Tooltip("series:N", title=""),
                 alt.Tooltip("text:N", title=value_title)],
    )  # fmt: skip
    height = max(1, len(categories)) * max(1, len(order)) * 9 + 20
    return bars.properties(width=WIDTH - 200, height=height)


def funnel_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Centred bars, widest first; ``frame`` has stage, value, text (count and conversion)."""
    top = float(frame["value"].iloc[0] or frame["value"].max() or 1.0)
    data = frame.assign(
        x0=-frame["value"].clip(upper=top) / 2,
        x1=frame["value"].clip(upper=top) / 2,
        description=frame["stage"] + ": " + frame["text"],
    )
    stages = list(frame["stage"])
    y = alt.Y("stage:N", title=None, sort=stages)
    scale = alt.Scale(domain=[-top / 2, top / 2 * 1.9])
    columns = ["stage", "value", "text", "x0", "x1", "description"]
    base = alt.Chart(_values(data, columns)).encode(y=y)
    bars = base.mark_bar(cornerRadius=3).encode(
        x=alt.X("x0:Q", axis=None, scale=scale),
        x2="x1:Q",
        description="description:N",
        color=alt.Color(
            "stage:N", legend=None, sort=stages, scale=alt.Scale(domain=stages, range=PALETTE)
        ),
        tooltip=[alt.Tooltip("stage:N"), alt.Tooltip("text:N", title="count")],
    )
    labels = base.mark_text(align="left", dx=6, color="#334e68", aria=False).encode(
        x=alt.datum(top / 2, type="quantitative"), text="text:N"
    )
    return alt.layer(bars, labels).properties(width=WIDTH, height=40 * len(stages))


def heatmap(
    frame: pd.DataFrame,
    rows: Sequence[str],
    columns: Sequence[str],
    vmax: float,
    row_title: str,
    column_title: str,
    cell_name: str = "{row} → {col}",
) -> alt.LayerChart:
    """Cells coloured white → dark blue; ``frame`` has row, col, value, text, muted.

    ``cell_name`` names a cell for screen readers and the tests (``{row}``, ``{col}``).
    """
    names = [
        cell_name.format(row=r, col=c) for r, c in zip(frame["row"], frame["col"], strict=True)
    ]
    frame = frame.assign(
        description=[f"{n}: {t}" for n, t in zip(names, frame["text"], strict=True)]
    )
    fields = ["row", "col", "value", "text", "muted", "description"]
    base = alt.Chart(_values(frame, fields)).encode(
        x=alt.X("col:O", title=column_title, sort=list(columns), axis=alt.Axis(orient="top",
                labelAngle=0)),
        y=alt.Y("row:O", title=row_title, sort=list(rows)),
    )  # fmt: skip
    colour = alt.Color(
        "value:Q",
        legend=None,
        scale=alt.Scale(domain=[0, vmax or 1], range=["#f7fbff", "#08306b"], clamp=True),
    )
    cells = base.mark_rect(stroke="#fff", strokeWidth=2).encode(
        color=alt.condition("datum.muted", alt.value(MUTED), colour),
        description="description:N",
        tooltip=[alt.Tooltip("row:O", title=row_title), alt.Tooltip("col:O", title=column_title),
                 alt.Tooltip("text:N", title="value")],
    )  # fmt: skip
    ink = f"!datum.muted && datum.value / {vmax or 1} > 0.55"
    text = base.mark_text(fontSize=10, aria=False).encode(
        text="text:N",
        color=alt.condition(ink, alt.value("#ffffff"), alt.value("#1f2933")),
    )
    width = min(WIDTH, 56 * max(len(columns), 1))
    return alt.layer(cells, text).properties(width=width, height=24 * max(len(rows), 1))


def embed(chart_id: str, chart: alt.TopLevelMixin) -> str:
    """The HTML for one chart: a container and its specification as inert JSON."""
    spec = chart.configure(**_CONFIG).to_dict()
    return (
        f'<div class="vega-chart" data-chart="{chart_id}"></div>'
        f'<script type="application/json" class="vega-spec" data-chart="{chart_id}">'
        f"{json_for_html(spec)}</script>"
    )


def json_for_html(value: object) -> str:
    """JSON that is safe inside an HTML ``<script>`` element: no ``<``, ``>`` or ``&``."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_scripts() -> str:
    """The vega-embed bundle and the loader that renders every chart on the page as SVG."""
    return (
        f"<script>{_bundle()}</script>\n<script>{_LOADER}</script>"
        '<noscript><p class="note">The charts need JavaScript; each chart\'s numbers are in '
        "its Data table.</p></noscript>"
    )


_LOADER = """
document.querySelectorAll('script.vega-spec').forEach(function (el) {
  var target = el.previousElementSibling;
  vegaEmbed(target, JSON.parse(el.textContent), {renderer: 'svg', actions: false})
    .then(function () { target.setAttribute('data-rendered', 'true'); })
    .catch(function (err) { target.textContent = 'Chart could not be drawn: ' + err; });
});
"""


@cache
def _bundle() -> str:
    """Vega, Vega-Lite (the version Altair writes) and vega-embed as one script."""
    version = "_".join(alt.SCHEMA_VERSION.split(".")[:2])
    bundle = vl_convert.javascript_bundle(vl_version=version)
    if "</script" in bundle.lower():  # would end the inline <script> early
        raise RuntimeError("the vega-embed bundle contains '</script'; cannot inline it")
    return bundle


def _values(frame: pd.DataFrame, columns: Sequence[str]) -> alt.Data:
    """Inline data with nulls for missing numbers (JSON has no NaN)."""
    clean = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), None)
    return alt.Data(values=clean.to_dict("records"))


def formatted(values: pd.Series, fmt: Callable[[float], str]) -> pd.Series:
    """Labels for tooltips and value text, made by the report's own number formats."""
    return values.map(lambda v: "" if pd.isna(v) else fmt(float(v)))
