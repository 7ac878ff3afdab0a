"""The report in a real browser: Debian's Chromium, driven by Playwright, draws every chart.

``test_report.py`` checks the numbers in each chart's Vega-Lite specification; here the page is
opened offline (``file://``, no network) and what Vega drew is read back from the SVG: every
mark's accessible name (its ``description``) must be one of the chart's data rows, each drawn
once, with no script error. Export text carrying HTML/JS payloads must come out as text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.reporting.report import build_report
from tests.ops.test_report import ALL_MARTS, _channel_monthly, _publish, _rows, _section

pytestmark = [pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
MARKS = ".role-mark path[aria-label], .role-mark text[aria-label]"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (install it with scripts/ci_services.sh)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def _open(browser, page_file: Path):
    """Open the report offline; returns the page and the errors, dialogs and requests seen."""
    page = browser.new_page()
    seen = {"errors": [], "dialogs": [], "requests": []}
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(page_file.as_uri())
    total = page.locator(".vega-chart").count()
    page.wait_for_function(
        f"document.querySelectorAll('.vega-chart[data-rendered=true]').length === {total}",
        timeout=30_000,
    )
    return page, seen


def _spec_of(html: str, chart_id: str) -> dict:
    tag = f'<script type="application/json" class="vega-spec" data-chart="{chart_id}">'
    return json.loads(html.split(tag)[1].split("</script>")[0])


def test_every_chart_is_drawn_from_its_data(browser, tmp_path):
    home = _publish(tmp_path, {name: make() for name, make in ALL_MARTS.items()})
    report = build_report(home)
    html = report.read_text()
    page, seen = _open(browser, report)
    charts = page.eval_on_selector_all(".vega-chart", "els => els.map(e => e.dataset.chart)")
    assert len(charts) == 12
    for chart_id in charts:
        drawn = page.eval_on_selector_all(
            f'.vega-chart[data-chart="{chart_id}"] svg :is({MARKS})',
            "els => els.map(e => e.getAttribute('aria-label'))",
        )
        rows = _rows(_spec_of(html, chart_id))
        assert sorted(drawn) == sorted(r["description"] for r in rows), chart_id
    assert seen["errors"] == [] and seen["dialogs"] == []
    assert [u for u in seen["requests"] if not u.startswith("file://")] == []

    # the CAC points, named from pandas: channel · month: spend / new customers
    src = _channel_monthly()
    linear = src[(src["attribution_model"] == "linear") & (src["spend"] > 0)].copy()
    linear["month"] = pd.to_datetime(linear["month_start"]).dt.strftime("%Y-%m")
    agg = linear.groupby(["channel", "month"])[["spend", "new_customers"]].sum()
    agg = agg[agg["new_customers"] > 0]
    want = [f"{ch} · {m}: {s / n:,.2f} USD" for (ch, m), (s, n) in agg.iterrows()]
    drawn = page.eval_on_selector_all(
        '.vega-chart[data-chart="cac"] svg .mark-symbol.role-mark path',
        "els => els.map(e => e.getAttribute('aria-label'))",
    )
    assert sorted(drawn) == sorted(want)


def test_export_text_stays_text(browser, tmp_path):
    channel = _channel_monthly()
    channel["channel"] = channel["channel"].replace(
        {"Paid Search": PAYLOADS[0], "Paid Social": PAYLOADS[1]}
    )
    segments = ALL_MARTS["kpi_segment_monthly"]()
    segments["segment_value"] = segments["segment_value"].replace({"champions": PAYLOADS[1]})
    home = _publish(tmp_path, {"kpi_channel_monthly": channel, "kpi_segment_monthly": segments})
    report = build_report(home)
    html = report.read_text()
    for payload in PAYLOADS:
        assert payload not in html  # never written raw, only escaped (HTML) or as JSON escapes
    main = html.split("<main>")[1].split("</main>")[0]  # the sections, without the Vega bundle
    assert "<img" not in main and "<script>alert" not in main
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section(html, "cac")  # the Data table

    page, seen = _open(browser, report)
    assert seen["dialogs"] == [] and seen["errors"] == []
    assert page.locator("img").count() == 0
    assert page.locator("script:not([src])").count() == 2 + len(page.locator(".vega-spec").all())
    legend = page.eval_on_selector_all(
        '.vega-chart[data-chart="cac"] svg .role-legend text',
        "els => els.map(e => e.textContent)",
    )
    assert set(PAYLOADS) <= set(legend)  # drawn as the characters they are
    cells = page.eval_on_selector_all("#chart-cac table th", "els => els.map(e => e.textContent)")
    assert set(PAYLOADS) <= set(cells)
