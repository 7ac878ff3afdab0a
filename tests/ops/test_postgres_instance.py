"""The documented production instance (docs/dagster.postgres.yaml) really stores in PostgreSQL.

Needs the server from `scripts/ci_services.sh` (env ``SEGMART_PG_DSN``); skipped with the
reason otherwise. Each test gets a throw-away database (conftest.py), so parallel workers and
the serving tests never see Dagster's tables.
"""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

pytestmark = pytest.mark.postgres

POOL = "duckdb_warehouse"


@pytest.fixture
def pg_instance(pg_dagster_home):
    """A DagsterInstance built from the documented dagster.yaml (fixtures in conftest.py)."""
    instance = dg.DagsterInstance.from_config(str(pg_dagster_home))
    try:
        yield instance
    finally:
        instance.dispose()


@dg.asset(pool=POOL)
def tiny_numbers() -> dg.MaterializeResult:
    """A trivial asset in the warehouse pool, so the pool limit is exercised too."""
    return dg.MaterializeResult(metadata={"row_count": 3})


def test_instance_is_configured_from_the_documented_yaml(pg_instance):
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    assert isinstance(pg_instance.run_storage, PostgresRunStorage)
    assert isinstance(pg_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(pg_instance.schedule_storage, PostgresScheduleStorage)
    pools = pg_instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == 1
    assert pools.pool_granularity.value == "op"
    assert not pg_instance.telemetry_enabled


def test_materialisation_is_stored_in_postgres(pg_instance, pg_database):
    result = dg.materialize([tiny_numbers], instance=pg_instance)
    assert result.success
    run_id = result.run_id

    with psycopg.connect(pg_database) as con:
        status = con.execute("select status from runs where run_id = %s", (run_id,)).fetchone()
        event_types = {
            row[0]
            for row in con.execute(
                "select dagster_event_type from event_logs where run_id = %s", (run_id,)
            )
        }
        materialised = con.execute(
            "select count(*) from event_logs"
            " where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'"
            " and asset_key = %s",
            (run_id, dg.AssetKey("tiny_numbers").to_string()),
        ).fetchone()[0]
        known_keys = {row[0] for row in con.execute("select asset_key from asset_keys")}

    assert status == ("SUCCESS",)
    # Stored names are the enum values (RUN_START is kept as "PIPELINE_START" for history).
    expected = {
        dg.DagsterEventType.RUN_START.value,
        dg.DagsterEventType.STEP_SUCCESS.value,
        dg.DagsterEventType.ASSET_MATERIALIZATION.value,
        dg.DagsterEventType.RUN_SUCCESS.value,
    }
    assert expected <= event_types
    assert materialised == 1
    assert dg.AssetKey("tiny_numbers").to_string() in known_keys

    # Read back through Dagster's own API as well: the same instance sees the stored run.
    record = pg_instance.get_latest_materialization_event(dg.AssetKey("tiny_numbers"))
    assert record is not None
    assert record.run_id == run_id
    assert record.asset_materialization.metadata["row_count"].value == 3
