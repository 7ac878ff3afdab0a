"""The suite files stay in step with the entity contract and load into GX."""

from __future__ import annotations

import json

import pytest

from pipelines.core.contract import entities, lineage_columns
from pipelines.core.settings import EXPECTATIONS_DIR
from pipelines.quality import mart_checks, raw_checks
from pipelines.quality.suites import SEVERITIES, available_suites, load_suite


@pytest.mark.parametrize("entity", sorted(entities()))
def test_raw_suite_matches_the_contract(entity):
    suite = load_suite("raw", entity)
    ent = entities()[entity]
    (schema,) = [e for e in suite.expectations if e.type == "expect_table_columns_to_match_set"]
    assert schema.kwargs["column_set"] == ent.column_names + list(lineage_columns())
    required = {c.name for c in ent.columns if c.required}
    not_null = {
        e.kwargs["column"]
        for e in suite.expectations
        if e.type == "expect_column_values_to_not_be_null" and "mostly" not in e.kwargs
    }
    assert required <= not_null
    assert suite.key[: len(ent.key)] == tuple(ent.key)
    assert all(e.severity in SEVERITIES for e in suite.expectations)


def test_every_suite_file_is_valid_gx_json():
    from great_expectations.core.expectation_suite import ExpectationSuite

    for path in EXPECTATIONS_DIR.glob("*__*.json"):
        data = json.loads(path.read_text())
        suite = ExpectationSuite(**data)  # GX accepts the file as an ExpectationSuite
        assert len(suite.expectations) == len(data["expectations"]) > 0


def test_check_definitions_cover_every_raw_entity_and_the_marts_with_suites():
    raw = raw_checks
    assert {next(iter(c.check_keys)).asset_key.path[-1] for c in raw} == set(entities())
    assert all(spec.blocking for c in raw for spec in c.check_specs)
    marts = mart_checks(["dim_accounts", "dim_customers", "kpi_channel_monthly", "fct_orders"])
    covered = {next(iter(c.check_keys)).asset_key.path[-1] for c in marts}
    assert covered == set(available_suites("mart")) - {"fct_orders"}
    assert {"dim_accounts", "dim_customers", "kpi_channel_monthly"} <= covered
