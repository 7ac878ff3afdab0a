"""Reliability tests reuse the ingestion helpers (a temporary home with a test mapping), and
the pipeline-fault modules share the uninterrupted demo run they compare with."""

from pathlib import Path

import pytest

from tests.ingest.conftest import home  # noqa: F401  (pytest fixture)
from tests.shared_homes import StoredRun, demo_home


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """The uninterrupted run: the shared demo home (tests/shared_homes.py), same landing."""
    demo = demo_home(tmp_path_factory)
    assert StoredRun(demo).success
    return demo


@pytest.fixture(scope="module")
def landing(baseline) -> Path:
    """The demo landing (scale 0.01, seed 11) the baseline was built from; copy, never change."""
    return baseline / "landing" / "demo"
