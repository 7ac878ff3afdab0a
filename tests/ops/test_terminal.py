"""What ``segmart run`` prints: one line per phase and a summary, the event stream in the run
log, and on failure the failed check in words with real paths (pipelines/automation/progress.py).

Each run is the real command in a child process (stdout and stderr merged, as a terminal shows
them): a forced run of a copy of the shared demo home (checks pass), and a home whose only
export is a Google Ads report with a negative cost (the blocking raw check fails), run once
quietly and once with ``--verbose``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import pytest

from pipelines.automation.progress import KEEP_LOGS, LATEST, PHASE_NAMES, new_run_log
from tests.reliability import pipeline_home
from tests.shared_homes import demo_home, private_copy

MAX_LINES = 40

BAD_REPORT = """\
Campaign report
"March 1, 2024 - March 31, 2024"
Day,Campaign ID,Campaign,Impr.,Clicks,Cost,Currency code
"2024-03-01","111","Brand search","1,200","80","150.00",USD
"2024-03-02","111","Brand search","1,100","75","140.00",USD
"2024-03-03","111","Brand search","900","60","-250.00",USD
Total: Campaigns,,,,,,
"""


def segmart_run(home: Path, *args: str) -> tuple[int, str]:
    """``segmart run --home HOME ARGS`` as a child process: (exit code, merged output)."""
    finished = pipeline_home.run(home, args=args)
    return finished.proc.returncode, finished.output


def run_log(output: str, home: Path) -> Path:
    [path] = re.findall(r"^Run log: (\S+)$", output, re.M)
    log = Path(path)
    assert log.is_file() and log.parent == home / "logs"
    return log


def phase_line(output: str, name: str) -> str:
    [line] = [ln for ln in output.splitlines() if re.match(rf"^  \S {re.escape(name)}\s", ln)]
    return line


@pytest.fixture(scope="module")
def succeeded(tmp_path_factory):
    home = private_copy(demo_home(tmp_path_factory), tmp_path_factory.mktemp("quiet") / "home")
    code, output = segmart_run(home, "--force")
    return home, code, output


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    home = tmp_path_factory.mktemp("failing") / "home"
    (home / "landing" / "ads").mkdir(parents=True)
    (home / "landing" / "ads" / "Campaign report 2024-03.csv").write_text(BAD_REPORT)
    code, output = segmart_run(home)
    return home, code, output


@pytest.fixture(scope="module")
def verbose(failed):
    home = failed[0]
    code, output = segmart_run(home, "--verbose")  # the failed run left no up-to-date record
    return home, code, output


@pytest.mark.slow
def test_a_successful_run_prints_its_phases_and_a_summary(succeeded):
    home, code, output = succeeded
    assert code == 0, output[-3000:]
    lines = output.splitlines()
    assert len(lines) < MAX_LINES, output
    for name in PHASE_NAMES:
        assert phase_line(output, name).startswith(f"  ✓ {name}"), output
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        rows = sum(con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables)
    assert f"{len(tables)} marts published ({rows:,} rows)" in phase_line(output, "Publish")
    assert f"Marts: {len(tables)} tables, {rows:,} rows" in output  # the summary
    assert "Headline KPIs:" in output
    assert "no new files" in phase_line(output, "Ingest files")  # all loaded by the first run
    for noise in (" - DEBUG - ", "STEP_START", "Completed successfully", "Running with dbt"):
        assert noise not in output
    assert "{home}" not in output

    log = run_log(output, home)
    assert (home / "logs" / LATEST).resolve() == log.resolve()
    text = log.read_text()
    assert " - DEBUG - " in text and "STEP_START" in text and "RUN_SUCCESS" in text
    assert "Running with dbt" in text and "Completed successfully" in text  # dbt's own output


@pytest.mark.slow
def test_a_failed_check_is_explained_with_real_paths(failed):
    home, code, output = failed
    assert code == 1, output[-3000:]
    lines = output.splitlines()
    assert len(lines) < MAX_LINES, output
    # the numbers of the ingest line, from the raw and quarantine layers themselves
    with duckdb.connect() as con:
        raw = f"{home}/raw/ad_spend_daily/[0-9a-f]*.parquet"
        loaded = con.execute(f"select count(*) from read_parquet('{raw}')").fetchone()[0]
        [bad_row] = con.execute(
            f"select _source_row from read_parquet('{raw}') where spend < 0"
        ).fetchone()
    quarantined = list((home / "quarantine").rglob("*.parquet"))
    assert loaded == 3 and not quarantined
    ingest = phase_line(output, "Ingest files")
    assert ingest.startswith("  ✓") and "1 new file loaded: 3 rows, 0 quarantined" in ingest
    assert phase_line(output, "Raw checks").startswith("  ✗ Raw checks")
    assert "1 failed" in phase_line(output, "Raw checks")
    for name in ("dbt models", "Mart checks", "Publish"):
        assert "not run" in phase_line(output, name)

    # which check, the expectation with its bound, what was observed, a sample key
    assert "✗ gx_raw__ad_spend_daily on ads/ad_spend_daily" in output
    assert "expectation: expect_column_values_to_be_between(spend) [error]" in output
    assert re.search(r"expected: .*min_value=0", output)
    assert "observed: 1 unexpected of 3 values" in output
    assert f"_source_row={bad_row}" in output and "campaign_id=111" in output

    # real paths that exist, no placeholders, no dbt or Dagster stream
    [docs] = re.findall(r"Data Docs: (\S+raw__ad_spend_daily\.html)$", output, re.M)
    assert Path(docs).is_file() and Path(docs).is_relative_to(home / "serving" / "quality")
    log = run_log(output, home)
    assert f"Log: {log}" in lines
    assert "{home}" not in output
    for noise in (" - DEBUG - ", "STEP_START", "Completed successfully", "Traceback"):
        assert noise not in output
    text = log.read_text()
    assert " - DEBUG - " in text and "ASSET_CHECK_EVALUATION" in text and "RUN_FAILURE" in text


@pytest.mark.slow
def test_verbose_prints_the_event_stream_and_still_explains(verbose):
    home, code, output = verbose
    assert code == 1, output[-3000:]
    assert " - DEBUG - " in output and "STEP_START" in output
    assert "expectation: expect_column_values_to_be_between(spend) [error]" in output
    assert "no new files" in phase_line(output, "Ingest files")
    log = run_log(output, home)
    assert " - DEBUG - " in log.read_text()  # the run log is written with --verbose too
    assert len(list((home / "logs").glob("run-*.log"))) == 2  # one per run


def test_run_logs_keep_the_newest_and_a_stable_name(tmp_path):
    made = []
    for n in range(KEEP_LOGS + 2):
        path = new_run_log(tmp_path)
        os.utime(path, (1_000_000 + n, 1_000_000 + n))  # one second apart, oldest first
        made.append(path)
    kept = sorted((tmp_path / "logs").glob("run-*.log"))
    assert len(set(made)) == len(made)  # runs in the same second get their own file
    assert set(kept) == set(made[-KEEP_LOGS:])
    assert (tmp_path / "logs" / LATEST).resolve() == made[-1].resolve()


def test_a_failed_reconciliation_names_its_rule_numbers_and_keys():
    """The lines for a reconciliation check, from the result reconcile.py itself builds."""
    import dagster as dg

    from pipelines.automation.progress import RunProgress, explain_failures
    from pipelines.quality.reconcile import Reconciliation, check_result

    rec = Reconciliation(
        name="staging → fct_orders: net revenue",
        equation="Σ fct_orders.net_revenue = Σ stg_crm__orders.net_amount × FX, per order",
        expected=120.5,
        actual=100.5,
        failing_count=1,
        failing=[{"order_id": "A-17", "difference": -20.0}],
        tolerance=0.01,
        unit="USD",
    )
    result = check_result(rec)
    progress = RunProgress()
    progress.phases[3].failed.append(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("fct_orders"),
            check_name="reconcile_staging_to_fct",
            passed=False,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
        )
    )
    lines = explain_failures(progress, None)
    text = "\n".join(lines)
    assert lines[0].startswith("  ✗ reconcile_staging_to_fct on fct_orders: ")
    assert "expected 120.50 USD, actual 100.50 USD, difference -20.00 USD" in lines[0]
    assert f"expected: {rec.equation} (tolerance ±0.01 USD)" in text
    assert "sample keys: {order_id=A-17, difference=-20}" in text
