"""Shared test fixtures: paths to the real fixtures and a runner for the real Dagster job."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

from pipelines.quality.compat import guard_pyspark_doctest_exit

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.exists():
        pytest.fail(f"the shared fixtures are missing: expected {SHARED_FIXTURES}")
    return SHARED_FIXTURES


guard_pyspark_doctest_exit()  # xdist workers have a __main__ without __file__


@pytest.fixture(autouse=True, scope="session")
def _test_environment():
    os.environ.setdefault("SEGMART_PII_KEY", "test-key")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    yield


# The modules that run the whole pipeline, longest first (CI durations). `make test` runs
# xdist with `--dist loadscope --no-loadscope-reorder`: a module is one unit of work and
# units are handed out in collection order, so the longest start first and the many short
# modules fill in around them. xdist's default order (most tests first) started these last
# and left one worker running them alone at the end.
LONGEST_FIRST = (
    "tests/reliability/test_pipeline_faults.py",
    "tests/pipeline/test_partitions.py",
    "tests/pipeline/test_partitions_restated.py",
    "tests/pipeline/test_demo_run.py",
    "tests/pipeline/test_subsets_shop.py",
    "tests/reliability/test_pipeline_faults_disk.py",
    "tests/pipeline/test_subsets_web_ads.py",
    "tests/reliability/test_pipeline_faults_landings.py",
    "tests/pipeline/test_subsets_crm.py",
    "tests/quality/test_reconcile.py",
    "tests/spark/test_spark_parity.py",
    "tests/pipeline/test_gating.py",
    "tests/segments/test_cluster_job.py",
    "tests/pipeline/test_fixture_run.py",
    "tests/ops/test_ui_browser.py",
)


# The blocking tier, `make test-fast` (first in CI, under 10 minutes on 2 cores): every test
# not marked slow, the dbt builds on small inputs and one end-to-end run of the real job on
# real exports. Marked `fast` here; `make test` runs `-m fast`, then `-m "not fast"`.
FAST_TIER = ("tests/dbt/", "tests/kpi/", "tests/pipeline/test_fixture_run.py")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    """Mark the blocking tier; then longest modules first, then the other slow ones, then the
    rest (order kept within)."""
    for item in items:
        if not item.get_closest_marker("slow") or item.nodeid.startswith(FAST_TIER):
            item.add_marker(pytest.mark.fast)
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}

    def weight(item) -> tuple[int, int]:
        module = item.nodeid.split("::")[0]
        if module in rank:
            return (0, rank[module])
        return (1, 0) if item.get_closest_marker("slow") else (2, 0)

    items.sort(key=weight)


MODULE_BUDGET_S = 180  # each test module under 3 minutes on 2 cores (issue 21.5)


def pytest_terminal_summary(terminalreporter):
    """The slowest test modules, setup + call + teardown summed (module fixtures included);
    ``!`` marks one over the budget. The session-wide shared homes (tests/shared_homes.py)
    count in the module that built them."""
    totals: dict[str, float] = defaultdict(float)
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) in ("setup", "call", "teardown"):
                totals[report.nodeid.split("::")[0]] += report.duration
    if not totals:
        return
    terminalreporter.write_sep("=", "slowest modules (setup + call + teardown)")
    for module, seconds in sorted(totals.items(), key=lambda kv: -kv[1])[:15]:
        mark = "!" if seconds > MODULE_BUDGET_S else " "
        terminalreporter.write_line(f"{seconds:8.1f}s {mark} {module}")
