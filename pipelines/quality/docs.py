"""GX Data Docs for segmart's validations, built into ``{home}/serving/quality/``.

The results are aggregated across chunks by segmart, so they never sit in a GX store; a
filesystem ``SiteBuilder`` in an ephemeral context would only index the current process's
results and race with the checks running in parallel. Instead each validation is rendered with
GX's own ``ValidationResultsPageRenderer`` + ``DefaultJinjaPageView`` (the renderer Data Docs
use) to ``validations/<suite>/<run_id>/<suite>.html`` (atomic write), the last
``KEEP_RUNS`` pages per suite are kept, and ``index.html`` is rebuilt from small
``_latest/<suite>.json`` summaries, so concurrent checks never clobber each other.
"""

from __future__ import annotations

import functools
import html
import json
import shutil
from pathlib import Path

from pipelines.core.files import atomic_write_text
from pipelines.quality.runner import SuiteRun

KEEP_RUNS = 20


def gx_validation_result(run: SuiteRun):
    """The run as a GX ``ExpectationSuiteValidationResult``."""
    # GX is imported only when Data Docs are rendered (its import takes seconds)
    from great_expectations import __version__ as gx_version
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    results = []
    for o in run.outcomes:
        meta = {**o.expectation.meta, "evaluated_on": o.evaluated_on}
        config = ExpectationConfiguration(type=o.expectation.type, kwargs=o.kwargs, meta=meta)
        result = o.gx_result_dict()
        if "observed_value" in result:
            result["observed_value"] = _as_text(result["observed_value"])
        results.append(
            ExpectationValidationResult(
                success=o.success,
                expectation_config=config,
                result=result,
                exception_info={
                    "raised_exception": bool(o.exception),
                    "exception_message": o.exception,  # a template parameter: GX escapes it
                    # GX puts the traceback into the page as a template (raw HTML): segmart
                    # keeps none, and None made GX's renderer fail
                    "exception_traceback": "",
                },
            )
        )
    ok = sum(o.success for o in run.outcomes)
    total = len(run.outcomes)
    return ExpectationSuiteValidationResult(
        success=run.passed,
        results=results,
        suite_name=run.suite.name,
        statistics={
            "evaluated_expectations": total,
            "successful_expectations": ok,
            "unsuccessful_expectations": total - ok,
            "success_percent": 100.0 * ok / total if total else 100.0,
        },
        meta={
            "great_expectations_version": gx_version,
            "run_id": {"run_name": run.run_id, "run_time": run.run_time.isoformat()},
            "batch_spec": {"source": run.source},
            "batch_markers": {"rows_checked": run.rows_checked, "chunks": run.chunks},
            "active_batch_definition": {
                "datasource_name": "segmart",
                "data_connector_name": "duckdb",
                "data_asset_name": run.suite.name,
                "batch_identifiers": {"source": run.source},
            },
        },
    )


def _as_text(value: object) -> object:
    """``value`` with its strings HTML-escaped: GX renders an observed value into the page as
    raw HTML, and an observed value can be export text (a campaign name, a UTM value).
    Expectation parameters, failing keys and exception messages GX escapes itself."""
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, list | tuple):
        return [_as_text(v) for v in value]
    if isinstance(value, dict):
        return {html.escape(str(k)): _as_text(v) for k, v in value.items()}
    return value


@functools.cache
def _page_view():
    """One GX page view per process: its Jinja environment keeps the compiled templates (a
    new view compiled them all again, ~0.3 s a page)."""
    from great_expectations.render.view import DefaultJinjaPageView  # GX: seconds to import

    return DefaultJinjaPageView()


def render_html(run: SuiteRun) -> str:
    from great_expectations.render.renderer import ValidationResultsPageRenderer  # GX: lazy

    document = ValidationResultsPageRenderer().render(gx_validation_result(run))
    return _page_view().render(document)


def build_docs(run: SuiteRun, site: Path) -> Path:
    """Render ``run`` into the site, refresh the index, and return the page's path."""
    suite_dir = site / "validations" / run.suite.name
    # four levels below the site root, where GX's page template links ../../../../index.html
    page = suite_dir / run.run_id / "page" / f"{run.suite.name}.html"
    atomic_write_text(page, render_html(run), mode=0o644)
    _prune(suite_dir)
    summary = {
        "suite": run.suite.name,
        "run_id": run.run_id,
        "run_time": run.run_time.isoformat(),
        "passed": run.passed,
        "blocking_failure": run.blocking_failure,
        "failed": [o.expectation.label for o in run.failed],
        "rows_checked": run.rows_checked,
        "page": str(page.relative_to(site)),
    }
    atomic_write_text(
        site / "_latest" / f"{run.suite.name}.json", json.dumps(summary, indent=1), mode=0o644
    )
    write_index(site)
    return page


def _prune(suite_dir: Path) -> None:
    runs = sorted((p for p in suite_dir.iterdir() if p.is_dir()), key=lambda p: p.name)
    for old in runs[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)


def write_index(site: Path) -> Path:
    """``index.html``: the latest validation of every suite, failures first."""
    summaries = []
    for path in sorted((site / "_latest").glob("*.json")):
        try:
            summaries.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    summaries.sort(key=lambda s: (s["passed"], s["suite"]))
    rows = []
    for s in summaries:
        status = "passed" if s["passed"] else ("FAILED" if s["blocking_failure"] else "warnings")
        failed = html.escape(", ".join(s["failed"])) or "&ndash;"
        rows.append(
            f"<tr><td><a href='{html.escape(s['page'])}'>{html.escape(s['suite'])}</a></td>"
            f"<td class='{status.lower()}'>{status}</td><td>{s['rows_checked']}</td>"
            f"<td>{html.escape(s['run_time'])}</td><td>{failed}</td></tr>"
        )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>segmart data quality</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;"
        "border-bottom:1px solid #ddd;text-align:left}.failed{color:#b00;font-weight:bold}"
        ".warnings{color:#b60}.passed{color:#070}</style></head><body>"
        "<h1>segmart data quality</h1><p>Latest Great Expectations validation per suite.</p>"
        "<table><tr><th>suite</th><th>status</th><th>rows checked</th><th>run (UTC)</th>"
        "<th>failed expectations</th></tr>" + "".join(rows) + "</table></body></html>"
    )
    index = site / "index.html"
    atomic_write_text(index, page, mode=0o644)
    return index
