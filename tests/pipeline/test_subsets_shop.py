"""Subsets of exports (tests/pipeline/subsets.py): orders only, and orders with ad spend
(blended CAC); a home whose orders vanish after an accepted run still blocks."""

import pytest

from tests.pipeline.subsets import (  # noqa: F401  (the shared tests and fixtures)
    orders_run,
    subset_fixture,
    test_headline_prints_a_dash_for_a_kpi_without_inputs,
    test_inputs_that_vanish_after_an_accepted_run_still_block,
    test_kpis_equal_pandas,
    test_marts_are_empty_exactly_when_their_inputs_did_not_land,
    test_missing_sides_are_said_in_words,
    test_subset_publishes_on_its_first_run,
)

pytestmark = pytest.mark.slow

subset_run = subset_fixture(["orders", "orders_ads"])
