"""What one materialized asset costs in Dagster's SQLite event log, with and without reuse of
connections (pipelines/automation/sqlite_connections.py).

A dbt step logs an output and a materialization per model, a check result per test, and
reads its inputs' latest materializations for provenance; this runs a job shaped like that
(one ``can_subset`` multi-asset of N chained assets, each with metadata) on a fresh embedded
instance, alternating Dagster's own connection handling (the baseline) and the pooled one in
the same process, and reports milliseconds per asset and the ratio; then the same for the
per-day materializations a catch-up run records for a daily-partitioned asset.

    python -m benchmarks.dagster_events                 # 200 assets (and days), 3 rounds
    python -m benchmarks.dagster_events --assets 500 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from pipelines.automation import sqlite_connections

POOLED = SqliteEventLogStorage._connect  # noqa: SLF001  (installed by the import above)


def _job_assets(n: int) -> dg.AssetsDefinition:
    specs = [dg.AssetSpec(f"model_{i}", deps=[f"model_{i - 1}"] if i else []) for i in range(n)]

    @dg.multi_asset(specs=specs, can_subset=True)
    def models():
        for i in range(n):
            yield dg.MaterializeResult(
                asset_key=f"model_{i}", metadata={"rows": i, "sql": f"select {i}"}
            )

    return models


def _day_records(n: int) -> dg.AssetsDefinition:
    """One daily-partitioned asset recording ``n`` days from an unpartitioned run, as the
    catch-up of ``segmart_dbt_daily`` does (pipelines/transform/dbt_assets.py)."""
    days = dg.DailyPartitionsDefinition(start_date="2020-01-01")
    keys = days.get_partition_keys()[:n]

    @dg.asset(partitions_def=days)
    def dated(context) -> None:
        for day in keys:
            context.log_event(dg.AssetMaterialization(asset_key="dated", partition=day))

    return dated


def _seconds(assets: dg.AssetsDefinition, connect) -> float:
    SqliteEventLogStorage._connect = connect  # noqa: SLF001
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        with dg.DagsterInstance.from_config(home) as instance:
            first = assets.partitions_def.get_partition_keys()[0] if assets.partitions_def else None
            dg.materialize([assets], instance=instance, partition_key=first)  # tables, shards
            start = time.perf_counter()
            result = dg.materialize([assets], instance=instance, partition_key=first)
            elapsed = time.perf_counter() - start
            assert result.success
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    shapes = {
        f"{args.assets} chained assets of one multi-asset": _job_assets(args.assets),
        f"{args.assets} per-day records of one partitioned asset": _day_records(args.assets),
    }
    for label, assets in shapes.items():
        timings: dict[str, list[float]] = {"dagster": [], "pooled": []}
        try:
            for _ in range(args.rounds):
                timings["dagster"].append(_seconds(assets, sqlite_connections.DAGSTER_CONNECT))
                timings["pooled"].append(_seconds(assets, POOLED))
        finally:
            SqliteEventLogStorage._connect = POOLED  # noqa: SLF001
        median = {name: statistics.median(values) for name, values in timings.items()}
        print(f"{label}, {args.rounds} rounds (median of each):")
        for name, seconds in median.items():
            per = seconds / args.assets * 1000
            print(f"  {name:8} {seconds:7.2f} s   {per:6.1f} ms per asset or day")
        print(f"  pooled / dagster = {median['pooled'] / median['dagster']:.2f}")


if __name__ == "__main__":
    main()
