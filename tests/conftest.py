"""Shared test fixtures: paths to the real fixtures and a runner for the real Dagster job."""

from __future__ import annotations

import os
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
