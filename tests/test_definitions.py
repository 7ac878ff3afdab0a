"""Tier 1: the code location loads and shows the whole asset graph."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.pipeline.runner import home_env

REPO_ROOT = Path(__file__).resolve().parent.parent
RAW_KEYS = {
    "crm/accounts",
    "crm/contacts",
    "crm/leads",
    "crm/opportunities",
    "crm/orders",
    "crm/nps_responses",
    "web/events",
    "ads/ad_spend_daily",
}
FOUNDATION_MARTS = {"dim_accounts", "dim_customers", "kpi_channel_monthly"}


@pytest.fixture(scope="module")
def definitions(tmp_path_factory) -> dg.Definitions:
    from pipelines.definitions import defs

    with home_env(tmp_path_factory.mktemp("home")):
        return defs()


def test_asset_graph_has_every_layer(definitions):
    graph = definitions.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys >= RAW_KEYS
    assert keys >= FOUNDATION_MARTS
    assert "serving/marts" in keys
    assert any(k.startswith("stg_") for k in keys)
    assert any(k.startswith("int_") for k in keys)
    # the ingest assets are the dbt sources: staging depends on them directly
    stg_orders = graph.get(dg.AssetKey("stg_crm__orders"))
    assert dg.AssetKey(["crm", "orders"]) in stg_orders.parent_keys
    # groups by layer and source
    groups = {graph.get(dg.AssetKey.from_user_string(k)).group_name for k in keys}
    assert {"raw_crm", "raw_web", "raw_ads", "serving"} <= groups
    assert any(g.startswith("staging") for g in groups)
    assert any(g.startswith("marts") for g in groups)


def test_gx_suites_are_blocking_checks(definitions):
    graph = definitions.resolve_asset_graph()
    checks = {key: graph.get_check_spec(key) for key in graph.asset_check_keys}
    raw_gx = [
        spec
        for key, spec in checks.items()
        if key.asset_key.to_user_string() in RAW_KEYS and spec.blocking
    ]
    assert len({spec.asset_key for spec in raw_gx}) == len(RAW_KEYS)
    mart_gx = [
        spec
        for key, spec in checks.items()
        if key.asset_key.to_user_string() in FOUNDATION_MARTS and spec.blocking
    ]
    assert {spec.asset_key.to_user_string() for spec in mart_gx} == FOUNDATION_MARTS


def test_schedule_and_sensors(definitions):
    assert definitions.resolve_schedule_def("daily_refresh").cron_schedule == "0 6 * * *"
    sensor_names = {s.name for s in definitions.sensors}
    assert "alert_on_run_failure" in sensor_names
    assert any("landing" in name for name in sensor_names)


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "SEGMART_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
