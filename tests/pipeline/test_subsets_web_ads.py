"""Subsets of exports (tests/pipeline/subsets.py): GA4 events only, and ad spend only."""

import pytest

from tests.pipeline.subsets import (  # noqa: F401  (the shared tests and fixtures)
    subset_fixture,
    test_headline_prints_a_dash_for_a_kpi_without_inputs,
    test_kpis_equal_pandas,
    test_marts_are_empty_exactly_when_their_inputs_did_not_land,
    test_missing_sides_are_said_in_words,
    test_subset_publishes_on_its_first_run,
)

pytestmark = pytest.mark.slow

subset_run = subset_fixture(["web", "ads"])
