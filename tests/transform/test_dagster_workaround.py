"""Partitioned assets of one ``can_subset`` multi-asset, built in runs without a partition.

Without pipelines/transform/dagster_workaround.py, Dagster 1.13 fails the second run below
("Cannot access partition_key for a non-partitioned run"): ``b`` reads ``a`` of the same
step, and ``a`` was materialized before.
"""

import dagster as dg

from pipelines.transform import dagster_workaround

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01")


@dg.asset
def up():
    return 1


@dg.multi_asset(
    specs=[
        dg.AssetSpec("a", deps=["up"], partitions_def=DAILY),
        dg.AssetSpec("b", deps=["a"], partitions_def=DAILY),
    ],
    partitions_def=DAILY,
    can_subset=True,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def daily(context: dg.AssetExecutionContext):
    for key in sorted(context.selected_asset_keys, key=lambda k: k.path[-1]):  # a before b
        yield dg.Output(None, output_name=key.path[-1])


@dg.asset(deps=["b"])
def down():
    return 2


def _materializations(result, key: str) -> list[dg.AssetMaterialization]:
    return [
        event.event_specific_data.materialization
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key == dg.AssetKey(key)
    ]


def test_runs_with_and_without_a_partition_after_earlier_materializations():
    dagster_workaround.apply()
    defs = dg.Definitions(
        assets=[up, daily, down],
        jobs=[dg.define_asset_job("all", selection=dg.AssetSelection.all())],
    )
    job = defs.resolve_job_def("all")
    instance = dg.DagsterInstance.ephemeral()
    first = job.execute_in_process(instance=instance)
    second = job.execute_in_process(instance=instance)
    by_day = job.execute_in_process(instance=instance, partition_key="2024-01-05")
    third = job.execute_in_process(instance=instance)
    assert [r.success for r in (first, second, by_day, third)] == [True] * 4

    # without a partition: one unpartitioned materialization of each asset per run; b's
    # provenance points at a's materialization of the same run (a read as a whole)
    for result in (second, third):
        (a,) = _materializations(result, "a")
        (b,) = _materializations(result, "b")
        assert a.partition is None and b.partition is None
        assert "dagster/input_event_pointer/a" in b.tags
        records = instance.fetch_materializations(dg.AssetKey("a"), limit=100).records
        (same_run,) = [r.storage_id for r in records if r.run_id == result.run_id]
        assert b.tags["dagster/input_event_pointer/a"] == str(same_run)
    # the partitioned run is Dagster's own path: the run's partition
    assert [m.partition for m in _materializations(by_day, "b")] == ["2024-01-05"]
