"""The seed mart_inputs (which raw entities make rows of which mart) against the dbt graph,
the ingest contract, the KPI catalogue and the table in docs/guide.md; and the gate's rule."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import dagster as dg
import pytest

from pipelines.core.mart_inputs import (
    LANDING_ENTITIES_SEED,
    absent_phrase,
    empty_marts,
    export_labels,
    landing_table,
    mart_inputs,
    sides_without_data,
)
from pipelines.core.settings import DBT_PROJECT_DIR, REPO_ROOT
from pipelines.quality.runner import MartInputs, QualityState
from pipelines.reporting.summary import HEADLINES, NO_INPUTS, headline_value
from pipelines.transform.project import dbt_project, ensure_manifest
from tests.pipeline.runner import home_env


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest(dbt_project()).read_text())


@pytest.fixture(scope="module")
def asset_graph(tmp_path_factory):
    """The Dagster asset graph: dbt's lineage plus the Python steps between dbt models (the
    k-means assets read dim_accounts / dim_customers and feed dim_*_clusters)."""
    from pipelines.definitions import defs

    with home_env(tmp_path_factory.mktemp("home")):
        return defs().resolve_asset_graph()


def _upstream(graph, key: dg.AssetKey) -> set[str]:
    seen: set[dg.AssetKey] = set()
    stack = [key]
    while stack:
        for parent in graph.get(stack.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return {k.to_user_string() for k in seen}


def _marts(manifest: dict) -> set[str]:
    return {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    }


def test_every_mart_is_mapped_and_every_input_is_in_its_lineage(manifest, asset_graph):
    from pipelines.core.contract import entities

    # kpi_definitions reads the catalogue seeds and counts every source: it always has rows
    assert set(mart_inputs()) == _marts(manifest) - {"kpi_definitions"}
    raw_key = {name: f"{ent.source}/{name}" for name, ent in entities().items()}
    for mart, inputs in mart_inputs().items():
        lineage = _upstream(asset_graph, dg.AssetKey([mart]))
        for entity in inputs:
            assert raw_key[entity] in lineage, (mart, entity)


def test_landing_entities_are_the_contract(manifest):
    from pipelines.core.contract import entities

    with LANDING_ENTITIES_SEED.open() as handle:
        seed = {row["entity"]: row["source"] for row in csv.DictReader(handle)}
    assert seed == {name: ent.source for name, ent in entities().items()}
    # kpi_definitions counts the rows of every one of them
    node = manifest["nodes"]["model.segmart.kpi_definitions"]
    counted = {".".join(s.split(".")[2:]) for s in node["depends_on"]["nodes"] if "source." in s}
    assert counted == {f"{source}.{entity}" for entity, source in seed.items()}


def test_kpi_needs_name_catalogued_kpis_and_entities():
    seeds = DBT_PROJECT_DIR / "seeds" / "kpi"
    with (seeds / "kpi_catalog.csv").open() as handle:
        catalog = {row["kpi_name"]: row["mart"] for row in csv.DictReader(handle)}
    with (seeds / "kpi_needs.csv").open() as handle:
        needs = list(csv.DictReader(handle))
    assert needs
    assert {row["kpi_name"] for row in needs} <= set(catalog)
    assert {row["entity"] for row in needs} <= set(export_labels())
    assert set(catalog.values()) <= set(mart_inputs())  # every KPI's mart is mapped


def test_the_guide_has_the_landing_table():
    assert landing_table() in (REPO_ROOT / "docs" / "guide.md").read_text()


def test_words_for_missing_sides():
    rows = dict.fromkeys(export_labels(), 0) | {"orders": 10}
    empty = empty_marts(rows)
    assert "dim_customers" not in empty and "fct_orders" not in empty
    assert empty["fct_ad_spend_daily"] == "no ad spend report landed"
    assert absent_phrase(["opportunities", "leads"]) == "no deal export or lead export landed"
    sentences = sides_without_data(rows)
    assert not any(s.startswith("no order export") for s in sentences)
    assert any(s.startswith("no account export landed: ") for s in sentences)


def test_headline_prints_a_dash_without_inputs():
    sql, needs = HEADLINES["Blended CAC"]
    assert headline_value(0.0, needs, {"orders": 5}) == NO_INPUTS
    assert headline_value(12.5, needs, {"orders": 5, "ad_spend_daily": 3}) == "12.50"
    assert headline_value(None, needs, {"orders": 5, "ad_spend_daily": 3}) == "n/a"


def test_gate_applies_when_inputs_had_rows_now_or_in_the_last_accepted_run(tmp_path):
    state = QualityState(tmp_path)
    never = MartInputs(("accounts",), 0)
    assert not never.applies(state.previous("mart__dim_accounts"))
    state.record("mart__dim_accounts", 0, "r1", datetime.now(UTC), input_rows=0)
    assert not never.applies(state.previous("mart__dim_accounts"))
    assert MartInputs(("accounts",), 3).applies(state.previous("mart__dim_accounts"))
    # inputs that vanished after an accepted run with rows: the gate applies
    state.record("mart__dim_accounts", 85, "r2", datetime.now(UTC), input_rows=85)
    assert never.applies(state.previous("mart__dim_accounts"))
    # a state file from before input_rows was recorded: a mart that had rows had inputs
    (tmp_path / "mart__dim_customers.json").write_text(json.dumps({"row_count": 7}))
    assert MartInputs(("orders",), 0).applies(state.previous("mart__dim_customers"))
