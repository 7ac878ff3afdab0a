"""Dagster: the multi-asset materialises into a tmp home; the landing sensor's stability rule."""

from __future__ import annotations

import os

import dagster as dg

from pipelines.core.resources import SegmartHome
from pipelines.core.settings import home_paths
from pipelines.ingest.assets import build_ingest_landing, build_landing_sensor, scan_landing
from tests.ingest.conftest import land

ingest_landing = build_ingest_landing()
ORDERS = "order_ref,ordered_on,amount\nA1,01/02/2024,1\nA2,99/99/2024,2\n"


def test_materialize_reports_rows_and_rejections(home):
    land(home, "orders.csv", ORDERS)
    land(home, "unknown.csv", "x,y\n1,2\n")
    result = dg.materialize([ingest_landing], resources={"segmart": SegmartHome(home=str(home))})
    assert result.success
    materializations = [e.materialization for e in result.get_asset_materialization_events()]
    assert all(m.partition is None for m in materializations)  # no asset is partitioned
    events = {m.asset_key: m.metadata for m in materializations}
    assert len(events) == 8  # one per canonical entity
    orders = events[dg.AssetKey(["crm", "orders"])]
    assert orders["rows_loaded"].value == 1
    assert orders["rows_quarantined"].value == 1
    assert orders["rows_total"].value == 1
    assert orders["files_loaded"].value == 1
    assert orders["new_rows_by_day"].value == {"2024-02-01": 1}  # the day of the loaded row
    assert orders["new_days"].value == "2024-02-01..2024-02-01 (1 days)"
    assert "new_rows_by_day" not in events[dg.AssetKey(["web", "events"])]  # nothing new
    rejected = orders["rejected_files"].value.records
    assert [r.data["file"] for r in rejected] == ["unknown.csv"]
    assert "no mapping matches" in rejected[0].data["reason"]


def test_rows_by_day_counts_each_day_of_a_dated_entity(home):
    """Per-day counts equal a count of the landed rows by day computed here from the CSV."""
    lines = [f"B{i},{1 + i % 3:02d}/03/2024 23:{i % 60:02d},{i}" for i in range(10)]
    land(home, "orders.csv", "order_ref,ordered_on,amount\n" + "\n".join(lines) + "\n")
    result = dg.materialize([ingest_landing], resources={"segmart": SegmartHome(home=str(home))})
    [orders] = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey(["crm", "orders"])
        and e.materialization.partition is None
    ]
    expected: dict[str, int] = {}
    for line in lines:
        day, month, year = line.split(",")[1].split(" ")[0].split("/")
        expected[f"{year}-{month}-{day}"] = expected.get(f"{year}-{month}-{day}", 0) + 1
    assert orders["new_rows_by_day"].value == expected


def test_subset_materialises_only_selected_entity(home):
    land(home, "orders.csv", ORDERS)
    result = dg.materialize(
        [ingest_landing],
        resources={"segmart": SegmartHome(home=str(home))},
        selection=[dg.AssetKey(["web", "events"])],
    )
    keys = [e.materialization.asset_key for e in result.get_asset_materialization_events()]
    assert keys == [dg.AssetKey(["web", "events"])]
    assert not list((home / "raw" / "orders").glob("[0-9a-f]*.parquet"))  # left for later


def test_asset_specs_follow_the_contract():
    specs = {s.key: s for s in ingest_landing.specs}
    assert specs[dg.AssetKey(["ads", "ad_spend_daily"])].group_name == "raw_ads"
    assert specs[dg.AssetKey(["web", "events"])].group_name == "raw_web"
    assert specs[dg.AssetKey(["crm", "accounts"])].kinds == {"python", "parquet"}
    assert ingest_landing.can_subset
    # unpartitioned: the dbt models build what was loaded since their last build
    assert all(spec.partitions_def is None for spec in specs.values())


def test_sensor_waits_until_size_is_stable(home):
    paths = home_paths(home).ensure()
    path = land(home, "orders.csv", ORDERS)
    mtime = path.stat().st_mtime
    ready, cursor = scan_landing(paths, {}, stable_seconds=10, now=mtime + 1)
    assert ready == []  # just written: not yet stable
    path.write_text(ORDERS + "A3,01/02/2024,3\n")  # still growing
    os.utime(path, (mtime + 2, mtime + 2))
    ready, cursor = scan_landing(paths, cursor, stable_seconds=10, now=mtime + 5)
    assert ready == []
    ready, cursor = scan_landing(paths, cursor, stable_seconds=10, now=mtime + 16)
    assert [r[0] for r in ready] == ["orders.csv"]
    ready, cursor = scan_landing(paths, cursor, stable_seconds=10, now=mtime + 60)
    assert ready == []  # requested once only


def test_sensor_run_key_is_stable_for_the_same_file_set(home):
    home_paths(home).ensure()
    path = land(home, "orders.csv", ORDERS)
    old = path.stat().st_mtime - 3600
    os.utime(path, (old, old))
    sensor = build_landing_sensor(dg.define_asset_job("j", selection=[ingest_landing]))
    resources = {"segmart": SegmartHome(home=str(home))}
    with dg.build_sensor_context(resources=resources) as ctx:
        first = sensor(ctx)
    with dg.build_sensor_context(resources=resources) as ctx:
        again = sensor(ctx)
    assert isinstance(first, dg.RunRequest) and first.run_key == again.run_key
    with dg.build_sensor_context(resources=resources, cursor=ctx.cursor) as ctx2:
        assert isinstance(sensor(ctx2), dg.SkipReason)
