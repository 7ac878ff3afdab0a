"""Quality gates: Great Expectations 1.x suites from ``expectations/`` as blocking asset checks.

Public API:

* ``raw_checks``: list of blocking checks, one per raw entity (``AssetKey([source, entity])``);
* ``mart_checks(mart_names)``: blocking checks for the marts that have a suite file;
* ``reconcile_checks()``: blocking reconciliation checks between layers (rows and money
  conserved landing → raw + quarantine → staging → facts → KPI marts), see ``reconcile``;
* ``validate_raw(home, entity)`` / ``validate_mart(home, mart)``: the same validations outside
  Dagster, returning a :class:`~pipelines.quality.runner.SuiteRun`.

Great Expectations is imported only when a check runs (it takes seconds to import).
"""

from __future__ import annotations

from pipelines.quality.compat import guard_pyspark_doctest_exit

guard_pyspark_doctest_exit()

from pipelines.quality.checks import (  # noqa: E402 - after the guard, before GX is imported
    check_result,
    mart_checks,
    raw_check_definitions,
    validate_mart,
    validate_raw,
)
from pipelines.quality.reconcile import reconcile_checks  # noqa: E402

__all__ = [
    "check_result",
    "mart_checks",
    "raw_check_definitions",
    "raw_checks",
    "reconcile_checks",
    "validate_mart",
    "validate_raw",
]


def __getattr__(name: str):
    if name == "raw_checks":  # built on first access, not at import
        return raw_check_definitions()
    raise AttributeError(name)
