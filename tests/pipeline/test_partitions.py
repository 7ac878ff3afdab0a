"""Incremental dbt models on load time (docs/incremental.md), on the real Dagster job and dbt:
a late day and a new day.

One small generated home, built as ``segmart run`` builds it (the job, unpartitioned, the
first run a full refresh), then a late day and a new day of GA4 events and a new Shopify
orders export, run incrementally (the incremental models build the rows loaded since their
last build) and compared, mart by mart, with a full refresh of the same data (the job tagged
``segmart/full_refresh=true``). A restated ad report, a re-exported order line and an identity
change: test_partitions_restated.py (a module of its own: each module stays under 3 minutes).

Every asset is unpartitioned; the incremental result equals the full refresh in every mart and
incremental model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from tests.pipeline.incremental_rounds import (
    INCREMENTAL_MODELS,
    LOADED_SINCE,
    NPS_FILE,
    ORDERS_FILE,
    full_refresh,
    generated,
    how_built,
    land,
    marts_snapshot,
    new_home,
    query,
    run,
)
from tests.pipeline.runner import home_env
from tests.reliability.pipeline_home import snapshot_diff


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    """The base run, then the round's incremental run and a full refresh after it."""
    root = tmp_path_factory.mktemp("incremental")
    source, ga4 = generated(root)
    held = [p.name for p in ga4] + [Path(ORDERS_FILE).name, Path(NPS_FILE).name]
    home, dagster_home = new_home(root, source, held)
    out = {"home": home}

    # the base run: no record yet, so a full refresh
    base = run(home, dagster_home)
    out["base_how"] = how_built(base)
    out["base_events"] = query(home, "select count(*) from intermediate.int_events_sourced")[0][0]

    # a late day and a new day of events, a month of orders
    land(source, home, [*ga4, source / ORDERS_FILE])
    first = run(home, dagster_home)
    out["round1_how"] = how_built(first)
    out["round1"] = marts_snapshot(home)
    out["round1_events"] = query(home, "select count(*) from staging.stg_web__events")[0][0]
    out["round1_full"] = full_refresh(home, dagster_home)
    return out


@pytest.mark.slow
@pytest.mark.xdist_group("incremental_run")
def test_the_first_run_is_a_full_refresh_and_the_next_ones_incremental(rounds):
    assert set(rounds["base_how"]) == set(INCREMENTAL_MODELS)
    for how in rounds["base_how"].values():
        assert how == "full refresh: no record of an earlier incremental build"
    assert rounds["round1_how"] == dict.fromkeys(INCREMENTAL_MODELS, LOADED_SINCE)


@pytest.mark.slow
@pytest.mark.xdist_group("incremental_run")
def test_a_late_day_and_a_new_day_equal_a_full_refresh(rounds):
    incremental, full = rounds["round1"], rounds["round1_full"]
    assert {"fct_sessions", "fct_orders", "kpi_channel_daily", *INCREMENTAL_MODELS} <= set(full)
    assert snapshot_diff(incremental, full) == {}
    # the two GA4 days and the December orders reached the incremental models
    assert rounds["round1_events"] > rounds["base_events"]
    columns = incremental["int_sessions"][0]
    dates = {str(row[columns.index("session_date")]) for row in incremental["int_sessions"][1]}
    assert {"2024-12-29", "2024-12-31"} <= dates
    columns = incremental["int_order_lines_converted"][0]
    months = {
        str(row[columns.index("order_date")])[:7]
        for row in incremental["int_order_lines_converted"][1]
    }
    assert "2024-12" in months


def test_the_daily_schedule_runs_the_job_unpartitioned(tmp_path):
    from pipelines.definitions import defs

    with home_env(tmp_path):
        definitions = defs()
    schedule = definitions.resolve_schedule_def("daily_refresh")
    assert schedule.cron_schedule == "0 6 * * *"
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
        )
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == [None]
    assert schedule.job_name == "segmart_full"
    # no asset of the project is partitioned
    graph = definitions.resolve_asset_graph()
    assert [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def] == []
