"""The HTML report draws the numbers of a hand-made serving copy, and degrades without marts.

Expected values are computed here with plain pandas from the same frames that are written into
the serving DuckDB file; the tests read the numbers back from each chart's Vega-Lite
specification (the JSON the page carries) and from its Data table. ``test_report_browser.py``
opens the page in Chromium and checks what Vega actually draws.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.core.resources import SegmartHome
from pipelines.reporting.report import build_report, build_report_asset, render_report

MONTHS = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])


# --------------------------------------------------------------------------- hand-made marts


def _channel_monthly() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for month in MONTHS:
        for channel in ("Paid Search", "Paid Social", "Email"):
            for model in ("last_touch", "linear"):
                for motion in ("b2b", "b2c"):  # a cut the report must sum over
                    spend = 0.0 if channel == "Email" else float(rng.integers(100, 2000))
                    new = int(rng.integers(0, 12))
                    if channel == "Paid Social" and month == MONTHS[1]:
                        new = 0  # no customers that month: CAC undefined, not infinite
                    rows.append(
                        {
                            "month_start": month.date(),
                            "channel": channel,
                            "attribution_model": model,
                            "motion": motion,
                            "spend": spend,
                            "new_customers": new,
                            "attributed_revenue": float(rng.integers(0, 5000)),
                        }
                    )
    return pd.DataFrame(rows)


def _segment_monthly() -> pd.DataFrame:
    rows = []
    for month, bump in ((MONTHS[1], 0.0), (MONTHS[2], 50.0)):
        for seg_type, segment, ltv, cac in (
            ("rfm", "champions", 900.0, 150.0),
            ("rfm", "at risk", 300.0, 200.0),
            ("rfm", "lost", 120.0, 0.0),  # CAC 0: no ratio
            ("firmographic", "Technology · 51-200", 4000.0, 800.0),
            ("firmographic", "Healthcare · 1-10", 700.0, 350.0),
        ):
            rows.append(
                {
                    "month_start": month.date(),
                    "entity_type": "customer" if seg_type == "rfm" else "account",
                    "segment_type": seg_type,
                    "segment_value": segment,
                    "members": 10,
                    "ltv": ltv + bump,
                    "cac": cac,
                }
            )
    return pd.DataFrame(rows)


def _b2b_monthly() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "month": [m.date() for m in MONTHS],
            "leads": [120, 140, 90],
            "mqls": [60, 70, 41],
            "sqls": [30, 33, 20],
            "opportunities_created": [12, 15, 9],
            "opportunities_won": [4, 6, 2],
        }
    )


def _b2b_funnel_monthly() -> pd.DataFrame:
    """Lead cohorts by creation month, channel and lead type (each stage ⊆ the previous)."""
    rows = []
    for i, month in enumerate(MONTHS):
        for channel, lead_type, leads in (
            ("Paid Search", "demo_request", 40 + i),
            ("Paid Search", "download", 25),
            ("Organic Search", "form_fill", 30 - i),
            ("Unassigned", "other", 7),
        ):
            mqls = leads // 2
            sqls = mqls // 2
            opportunities = sqls // 2 + i
            won = opportunities // 3
            rows.append(
                {
                    "month_start": month.date(),
                    "channel": channel,
                    "lead_type": lead_type,
                    "leads": leads,
                    "mqls": mqls,
                    "sqls": sqls,
                    "opportunities": opportunities,
                    "won_deals": won,
                }
            )
    return pd.DataFrame(rows)


def _cohort_retention() -> pd.DataFrame:
    rows = []
    sizes = {MONTHS[0]: (40, 25), MONTHS[1]: (30, 10), MONTHS[2]: (20, 5)}
    for cohort, (b2c_size, b2b_size) in sizes.items():
        horizon = 3 - list(sizes).index(cohort)
        for since in range(horizon):
            for motion, size in (("b2c", b2c_size), ("b2b", b2b_size)):
                rows.append(
                    {
                        "cohort_month": cohort.date(),
                        "months_since_acquisition": since,
                        "motion": motion,
                        "cohort_customers": size,
                        "retained_customers": size if since == 0 else size // (since + 1),
                    }
                )
    return pd.DataFrame(rows)


def _membership() -> pd.DataFrame:
    prev = {f"c{i}": seg for i, seg in enumerate(["champions"] * 4 + ["at risk"] * 3 + ["lost"])}
    cur = dict(prev)
    cur.update({"c0": "at risk", "c5": "lost", "c6": "champions", "c9": "champions"})  # c9 new
    del cur["c7"]  # c7 left
    rows = [
        {"month": m.date(), "entity_type": "customer", "entity_id": k, "rfm_segment": v}
        for m, members in ((MONTHS[1], prev), (MONTHS[2], cur))
        for k, v in members.items()
    ]
    tiers = {"a1": "key account", "a2": "high", "a3": "high", "a4": "low"}
    rows += [
        {"month": m.date(), "entity_type": "account", "entity_id": k, "value_tier": v}
        for m in (MONTHS[1], MONTHS[2])
        for k, v in tiers.items()
    ]
    return pd.DataFrame(rows)


def _membership_long() -> pd.DataFrame:
    """The published shape of the dbt mart: one row per month, entity and segment type."""
    wide = _membership()
    long = wide.melt(
        id_vars=["month", "entity_type", "entity_id"],
        value_vars=["rfm_segment", "value_tier"],
        var_name="segment_type",
        value_name="segment_value",
    ).dropna(subset=["segment_value"])
    long = long.rename(columns={"month": "month_start"}).sort_values(
        ["entity_type", "entity_id", "segment_type", "month_start"]
    )
    keys = ["entity_type", "entity_id", "segment_type"]
    long["previous_segment_value"] = long.groupby(keys)["segment_value"].shift()
    long["is_changed"] = long["segment_value"] != long["previous_segment_value"]
    return long.reset_index(drop=True)


def _dim_customers() -> pd.DataFrame:
    return pd.DataFrame(
        {"customer_id": ["x1", "x2", "x3"], "rfm_segment": ["champions", "lost", "lost"]}
    )


def _dim_accounts() -> pd.DataFrame:
    return pd.DataFrame({"account_id": ["a1", "a2"], "value_tier": ["key account", "low"]})


def _channel_by_model() -> pd.DataFrame:
    """Credits per month, channel and model: rule-based and data-driven models disagree."""
    credits = {
        "last_touch": {"Paid Search": 6.0, "Email": 3.0, "Organic Search": 1.0},
        "markov": {"Paid Search": 4.5, "Email": 2.0, "Organic Search": 3.5},
        "shapley": {"Paid Search": 5.0, "Email": 2.5, "Organic Search": 2.5},
    }
    rows = []
    for i, month in enumerate(MONTHS):
        for model, per_channel in credits.items():
            for channel, orders in per_channel.items():
                rows.append(
                    {
                        "month_start": month.date(),
                        "channel": channel,
                        "attribution_model": model,
                        "orders": orders + i,
                        "won_deals": 1.0 if channel == "Email" else 0.0,
                        "leads": None,  # a column with no credits at all counts as 0
                    }
                )
    return pd.DataFrame(rows)


def _clv_holdout() -> pd.DataFrame:
    weeks = [
        {"comparison": "week", "bucket_order": k, "bucket_label": f"week {k}",
         "customers": 100, "actual_purchases": a, "predicted_purchases": p}
        for k, (a, p) in enumerate([(10.0, 11.5), (8.0, 9.0), (12.0, 10.0)], start=1)
    ]  # fmt: skip
    frequency = [
        {"comparison": "frequency", "bucket_order": k, "bucket_label": label,
         "customers": n, "actual_purchases": a, "predicted_purchases": p}
        for k, (label, n, a, p) in enumerate([("0", 70, 7.0, 8.0), ("1", 20, 12.0, 11.0),
                                              ("2+", 10, 11.0, 11.5)])
    ]  # fmt: skip
    df = pd.DataFrame(weeks + frequency)
    df["actual_purchases_per_customer"] = df["actual_purchases"] / df["customers"]
    df["predicted_purchases_per_customer"] = df["predicted_purchases"] / df["customers"]
    is_week = df["comparison"] == "week"
    df["cumulative_actual_purchases"] = df["actual_purchases"].where(is_week).cumsum()
    df["cumulative_predicted_purchases"] = df["predicted_purchases"].where(is_week).cumsum()
    df.loc[~is_week, ["cumulative_actual_purchases", "cumulative_predicted_purchases"]] = None
    df["calibration_end"] = pd.Timestamp("2024-02-10").date()
    df["holdout_end"] = pd.Timestamp("2024-03-02").date()
    df["fit_status"] = "ok"
    return df


ALL_MARTS = {
    "kpi_channel_monthly": _channel_monthly,
    "kpi_segment_monthly": _segment_monthly,
    "kpi_b2b_monthly": _b2b_monthly,
    "kpi_b2b_funnel_monthly": _b2b_funnel_monthly,
    "fct_cohort_retention": _cohort_retention,
    "fct_segment_membership_monthly": _membership_long,
    "dim_customers": _dim_customers,
    "dim_accounts": _dim_accounts,
    "kpi_channel_monthly_by_model": _channel_by_model,
    "fct_clv_holdout": _clv_holdout,
}


def _publish(home: Path, marts: dict[str, pd.DataFrame]) -> Path:
    serving = home / "serving"
    serving.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(serving / "marts.duckdb")) as con:
        for name, frame in marts.items():
            con.register("frame", frame)
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")
    return home


@pytest.fixture
def full_home(tmp_path) -> Path:
    return _publish(tmp_path, {name: make() for name, make in ALL_MARTS.items()})


# --------------------------------------------------------------------------- reading the page


def _section(page: str, chart_id: str) -> str:
    match = re.search(rf'<section class="chart" id="chart-{chart_id}">(.*?)</section>', page, re.S)
    assert match, f"section chart-{chart_id} missing"
    return match.group(1)


def _specs(section: str) -> list[dict]:
    """The Vega-Lite specifications of a section, in page order."""
    found = re.findall(
        r'<script type="application/json" class="vega-spec" data-chart="[^"]*">(.*?)</script>',
        section,
        re.S,
    )
    return [json.loads(text) for text in found]


def _rows(spec: dict) -> list[dict]:
    """The inline data rows a chart draws (one data set per chart)."""
    return spec["data"]["values"]


def _encoding(spec: dict, channel: str) -> dict:
    """The encoding of ``channel`` in the chart's first layer (layers share their axes)."""
    inner = spec.get("spec", spec)
    return (inner["layer"][0] if "layer" in inner else inner)["encoding"][channel]


# --------------------------------------------------------------------------- tests


def test_cac_and_roas_by_channel_over_time(full_home):
    page = build_report(full_home).read_text()
    src = _channel_monthly()
    linear = src[src["attribution_model"] == "linear"].copy()  # preferred model when present
    linear["month"] = pd.to_datetime(linear["month_start"]).dt.strftime("%Y-%m")
    agg = linear.groupby(["month", "channel"])[["spend", "new_customers", "attributed_revenue"]]
    agg = agg.sum()
    expected_cac = (agg["spend"] / agg["new_customers"]).where(agg["new_customers"] > 0).dropna()
    expected_roas = (agg["attributed_revenue"] / agg["spend"]).where(agg["spend"] > 0).dropna()
    # channels without any ad spend (Email here) are not drawn
    paid = agg.groupby(level="channel")["spend"].sum().loc[lambda s: s > 0].index
    expected_cac = expected_cac[expected_cac.index.get_level_values("channel").isin(paid)]
    assert "Email" not in paid

    for chart_id, expected in (("cac", expected_cac), ("roas", expected_roas)):
        section = _section(page, chart_id)
        assert "attribution model: linear" in section
        assert "1 channel without ad spend not shown" in section
        (spec,) = _specs(section)
        points = _rows(spec)
        got = {(p["x"], p["series"]): p["value"] for p in points}
        want = {(m, ch): v for (m, ch), v in expected.items()}
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value)
        assert _encoding(spec, "y")["field"] == "value"  # one linear y scale for all channels
        assert _encoding(spec, "x")["sort"] == sorted(linear["month"].unique())

    # Paid Social had no new customers in February: no CAC point, the line breaks there
    (cac,) = _specs(_section(page, "cac"))
    social = [p for p in _rows(cac) if p["series"] == "Paid Social"]
    assert [p["x"] for p in social] == ["2024-01", "2024-03"]
    assert len({p["path"] for p in social}) == 2  # two separate line pieces
    assert _encoding(cac, "detail")["field"] == "path"


def test_ltv_to_cac_by_segment_latest_month(full_home):
    page = build_report(full_home).read_text()
    src = _segment_monthly()
    latest = src[src["month_start"] == src["month_start"].max()].set_index("segment_value")
    expected = (latest["ltv"] / latest["cac"]).replace(np.inf, np.nan)
    expected = expected.dropna()

    section = _section(page, "ltv-cac")
    assert "2024-03" in section
    (spec,) = _specs(section)
    bars = _rows(spec)
    got = {b["label"]: b["value"] for b in bars}
    assert got == pytest.approx(expected.to_dict())
    assert "lost" not in got  # CAC of 0 has no ratio
    assert {b["group"] for b in bars} == {"rfm", "firmographic"}
    assert spec["facet"]["row"]["field"] == "group"  # one panel per segment type
    rule = spec["spec"]["layer"][-1]
    assert rule["mark"]["type"] == "rule" and rule["encoding"]["x"]["datum"] == 3.0


def test_b2b_funnel_totals_conversion_and_channels(full_home):
    page = build_report(full_home).read_text()
    src = _b2b_funnel_monthly()  # preferred over kpi_b2b_monthly, which is also published
    stages = ["leads", "mqls", "sqls", "opportunities", "won_deals"]
    totals = [float(src[c].sum()) for c in stages]

    section = _section(page, "funnel")
    assert "kpi_b2b_funnel_monthly" in section
    (spec,) = _specs(section)
    bars = _rows(spec)
    assert [b["stage"] for b in bars] == ["Leads", "MQLs", "SQLs", "Opportunities", "Won"]
    assert [b["value"] for b in bars] == totals
    # centred bars: each spans -value/2 .. +value/2
    assert [(b["x0"], b["x1"]) for b in bars] == [(-v / 2, v / 2) for v in totals]
    for prev, cur in zip(totals, totals[1:], strict=False):
        assert f"{cur / prev:.1%}" in section
    assert "2024-01 to 2024-03" in section

    by_channel = src.groupby("channel")[stages].sum().sort_values("leads", ascending=False)
    table = section.split("<summary>By channel</summary>")[1]
    cells = re.findall(r"<tr><td>(.*?)</td>(.*?)</tr>", table)
    got = {name: re.findall(r"<td>(.*?)</td>", rest) for name, rest in cells}
    assert list(got) == list(by_channel.index)
    for channel, row in by_channel.iterrows():
        want = [f"{v:,.0f}" for v in row] + [f"{row['won_deals'] / row['leads']:.1%}"]
        assert got[channel] == want


def test_funnel_falls_back_to_monthly_volumes(tmp_path):
    home = _publish(tmp_path, {"kpi_b2b_monthly": _b2b_monthly()})
    section = _section(build_report(home).read_text(), "funnel")
    assert "kpi_b2b_monthly: stage events counted in the month" in section
    (spec,) = _specs(section)
    want = [float(_b2b_monthly()[c].sum()) for c in _b2b_monthly().columns[1:]]
    assert [b["value"] for b in _rows(spec)] == want


def test_cohort_retention_heat_map(full_home):
    page = build_report(full_home).read_text()
    src = _cohort_retention()
    src["cohort"] = pd.to_datetime(src["cohort_month"]).dt.strftime("%Y-%m")
    grouped = src.groupby(["cohort", "months_since_acquisition"])[
        ["retained_customers", "cohort_customers"]
    ].sum()
    expected = (grouped["retained_customers"] / grouped["cohort_customers"]).to_dict()

    (spec,) = _specs(_section(page, "cohort-retention"))
    cells = _rows(spec)
    got = {(c["row"], int(c["col"])): c["value"] for c in cells}
    assert got == pytest.approx(expected)
    # month 0 is always 100 % and drawn in the darkest colour: the top of the colour scale
    assert {c["value"] for c in cells if c["col"] == "0"} == {1.0}
    colour = _encoding(spec, "color")  # the value's colour; muted cells (condition) aside
    assert colour["field"] == "value" and colour["condition"]["test"] == "datum.muted"
    assert colour["scale"]["domain"] == [0, 1.0] and colour["scale"]["range"][-1] == "#08306b"


def test_channel_credit_by_model(full_home):
    page = build_report(full_home).read_text()
    src = _channel_by_model()
    src["credit"] = src[["orders", "won_deals", "leads"]].fillna(0).sum(axis=1)
    by = src.groupby(["attribution_model", "channel"])["credit"].sum()
    share = by / by.groupby(level="attribution_model").transform("sum")

    section = _section(page, "credit-by-model")
    assert "orders + won_deals + leads" in section
    (spec,) = _specs(section)
    got = {(r["series"], r["category"]): r["value"] for r in _rows(spec)}
    assert got == pytest.approx(share.to_dict())
    # rule-based models first, then the data-driven ones; channels by mean share
    assert _encoding(spec, "yOffset")["sort"] == ["last_touch", "markov", "shapley"]
    assert _encoding(spec, "y")["sort"][0] == "Paid Search"
    for model in ("last_touch", "markov", "shapley"):  # each model's shares sum to 1
        assert sum(v for (m, _), v in got.items() if m == model) == pytest.approx(1.0)


def test_clv_holdout_predicted_against_actual(full_home):
    page = build_report(full_home).read_text()
    src = _clv_holdout()
    section = _section(page, "clv-holdout")
    assert "2024-02-10" in section and "fit status ok" in section
    weeks, frequency = _specs(section)
    week_rows = src[src["comparison"] == "week"]
    got = {(r["series"], r["x"]): r["value"] for r in _rows(weeks)}
    want = {
        ("actual", w): v
        for w, v in zip(
            week_rows["bucket_label"], week_rows["actual_purchases"].cumsum(), strict=True
        )
    }
    want |= {("predicted", w): v for w, v in zip(week_rows["bucket_label"],
                                                 week_rows["predicted_purchases"].cumsum(),
                                                 strict=True)}  # fmt: skip
    assert got == pytest.approx(want)
    freq = src[src["comparison"] == "frequency"].set_index("bucket_label")
    got = {(r["series"], r["category"]): r["value"] for r in _rows(frequency)}
    want = {("actual", b): freq.loc[b, "actual_purchases"] / freq.loc[b, "customers"]
            for b in freq.index}  # fmt: skip
    want |= {("predicted", b): freq.loc[b, "predicted_purchases"] / freq.loc[b, "customers"]
             for b in freq.index}  # fmt: skip
    assert got == pytest.approx(want)


def test_clv_holdout_without_a_fit_says_why(tmp_path):
    holdout = _clv_holdout().assign(predicted_purchases=None, fit_status="too_few_customers")
    home = _publish(tmp_path, {"fct_clv_holdout": holdout})
    section = _section(build_report(home).read_text(), "clv-holdout")
    assert "CLV fit status too_few_customers" in section and "vega-spec" not in section


def test_ltv_to_cac_falls_back_to_the_blended_b2c_value(tmp_path):
    segments = _segment_monthly().drop(columns=["ltv", "cac"])  # the mart as published today
    b2c = pd.DataFrame(
        {
            "month_start": [m.date() for m in MONTHS],
            "ltv": [400.0, 420.0, 450.0],
            "blended_cac": [100.0, 120.0, None],  # no spend in March: no ratio
            "ltv_to_cac": [4.0, 3.5, None],
        }
    )
    home = _publish(tmp_path, {"kpi_segment_monthly": segments, "kpi_b2c_monthly": b2c})
    section = _section(build_report(home).read_text(), "ltv-cac")
    assert "no LTV:CAC per segment in kpi_segment_monthly yet" in section
    assert "2024-02" in section  # the latest month that has a value
    (spec,) = _specs(section)
    (bar,) = _rows(spec)
    assert (bar["label"], bar["value"]) == ("All B2C customers (blended)", 3.5)


@pytest.mark.parametrize("shape", ["long", "wide"])
def test_segment_sizes_and_movements(tmp_path, shape):
    membership = _membership_long() if shape == "long" else _membership()
    home = _publish(tmp_path, {"fct_segment_membership_monthly": membership})
    page = build_report(home).read_text()
    src = _membership()  # expected values from the wide frame, whatever shape was published
    latest = src[src["month"] == src["month"].max()]
    previous = src[src["month"] == sorted(src["month"].unique())[-2]]

    sizes_section = _section(page, "segment-sizes")
    rfm_spec, tier_spec = _specs(sizes_section)
    for spec, column in ((rfm_spec, "rfm_segment"), (tier_spec, "value_tier")):
        got = {b["label"]: b["value"] for b in _rows(spec)}
        want = latest[column].dropna().value_counts().astype(float).to_dict()
        assert got == want

    moves_section = _section(page, "segment-movements")
    rfm_moves, tier_moves = _specs(moves_section)
    prev = previous.dropna(subset=["rfm_segment"]).set_index("entity_id")["rfm_segment"]
    cur = latest.dropna(subset=["rfm_segment"]).set_index("entity_id")["rfm_segment"]
    joined = pd.concat([prev.rename("from"), cur.rename("to")], axis=1)
    joined = joined.fillna({"from": "(new)", "to": "(left)"})
    want = joined.value_counts(["from", "to"]).astype(float).to_dict()
    got = {(c["row"], c["col"]): c["value"] for c in _rows(rfm_moves)}
    assert got == want
    row_labels = _encoding(rfm_moves, "y")["sort"]
    assert row_labels == ["at risk", "champions", "lost", "(new)"]  # each once, new last
    assert _encoding(rfm_moves, "x")["sort"] == ["at risk", "champions", "lost", "(left)"]
    assert {(c["row"], c["col"]) for c in _rows(rfm_moves) if c["muted"]} == {
        (a, b) for a, b in want if a == b
    }
    moved = int(sum(v for (a, b), v in want.items() if a != b))
    assert f"{moved:,} moved" in moves_section
    # value tiers did not change: only the diagonal, drawn muted
    tier_cells = _rows(tier_moves)
    assert all(c["row"] == c["col"] and c["muted"] for c in tier_cells)


def test_every_chart_degrades_without_marts(tmp_path):
    result = render_report(tmp_path)
    page = result.path.read_text()
    assert result.path == tmp_path / "serving" / "report.html"
    expected_marts = {
        "cac": "kpi_channel_monthly",
        "roas": "kpi_channel_monthly",
        "ltv-cac": "kpi_segment_monthly",
        "funnel": "kpi_b2b_monthly",
        "cohort-retention": "fct_cohort_retention",
        "credit-by-model": "kpi_channel_monthly_by_model",
        "clv-holdout": "fct_clv_holdout",
    }
    for chart_id, mart in expected_marts.items():
        section = _section(page, chart_id)
        assert "vega-spec" not in section
        assert f"No data in mart <code>{mart}</code>" in section
    assert "No data in mart <code>dim_customers</code>" in _section(page, "segment-sizes")
    assert set(result.charts_without_data) == {
        *expected_marts,
        "segment-sizes",
        "segment-movements",
    }


def test_missing_columns_are_named_and_dims_stand_in_for_history(tmp_path):
    channel = _channel_monthly().drop(columns=["new_customers", "attributed_revenue"])
    b2b = _b2b_monthly()[["month", "leads"]]
    home = _publish(
        tmp_path,
        {
            "kpi_channel_monthly": channel,
            "kpi_b2b_monthly": b2b,
            "dim_customers": _dim_customers(),
            "dim_accounts": _dim_accounts(),
        },
    )
    page = build_report(home).read_text()
    assert "neither new customers nor attributed revenue" in _section(page, "cac")
    assert "fewer than two funnel stage columns" in _section(page, "funnel")

    sizes = _section(page, "segment-sizes")
    assert "dim_customers (current; no monthly history yet)" in sizes
    rfm_spec, _tier_spec = _specs(sizes)
    got = {b["label"]: b["value"] for b in _rows(rfm_spec)}
    assert got == _dim_customers()["rfm_segment"].value_counts().astype(float).to_dict()
    assert "fct_segment_membership_monthly" in _section(page, "segment-movements")


def test_reads_the_parquet_copy_when_there_is_no_duckdb_file(tmp_path):
    parquet = tmp_path / "serving" / "parquet"
    parquet.mkdir(parents=True)
    _b2b_monthly().to_parquet(parquet / "kpi_b2b_monthly.parquet")
    page = build_report(tmp_path).read_text()
    (spec,) = _specs(_section(page, "funnel"))
    assert _rows(spec)[0]["value"] == float(_b2b_monthly()["leads"].sum())
    assert str(parquet) in page


def test_report_asset_materialises_and_links_the_page(full_home):
    asset = build_report_asset(dg.AssetKey(["serving", "marts"]))
    assert asset.key == dg.AssetKey(["serving", "report"])
    assert asset.group_names_by_key[asset.key] == "serving"
    assert dg.AssetKey(["serving", "marts"]) in asset.dependency_keys

    result = dg.materialize([asset], resources={"segmart": SegmartHome(home=str(full_home))})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    report = full_home / "serving" / "report.html"
    assert metadata["path"].value == str(report)
    assert metadata["url"].value == report.as_uri()
    assert metadata["charts_without_data"].value == []
    assert report.stat().st_size == metadata["size_bytes"].value


def test_report_after_the_real_publish_in_one_run(tmp_path):
    """Warehouse → serving asset (write-audit-publish) → report asset, as wired in Definitions."""
    from pipelines.serving.assets import SERVING_KEY, build_serving_asset

    marts = {"kpi_channel_monthly": _channel_monthly(), "kpi_b2b_monthly": _b2b_monthly()}
    warehouse = tmp_path / "warehouse" / "segmart.duckdb"
    warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        for name, frame in marts.items():
            con.register("frame", frame)
            con.execute(f"create table marts.{name} as select * from frame")
            con.unregister("frame")

    serving = build_serving_asset([dg.AssetKey([name]) for name in marts])
    report = build_report_asset(SERVING_KEY)
    result = dg.materialize(
        [serving, report], resources={"segmart": SegmartHome(home=str(tmp_path))}
    )
    assert result.success
    order = [e.asset_key for e in result.get_asset_materialization_events()]
    assert order == [SERVING_KEY, dg.AssetKey(["serving", "report"])]

    page = (tmp_path / "serving" / "report.html").read_text()
    assert f"run_id: {result.run_id}" in page  # from the publisher's _published.json
    (spec,) = _specs(_section(page, "funnel"))
    totals = [float(_b2b_monthly()[c].sum()) for c in ("leads", "mqls", "sqls")]
    assert [b["value"] for b in _rows(spec)][:3] == totals
