"""Daily partitions and incremental dbt models, on the real Dagster job and real dbt.

One small generated home: the base landing without the newest GA4 day, without an earlier
day inside the look-back (its events arrive late, with the newest day), without the last
month's Shopify orders export and without the NPS export, run as ``segmart run`` runs it (the
job, no partition); then the held-back GA4 and orders files land and the landing sensor's
run (the job, no partition) builds them incrementally. The proofs: that run builds only the
new days plus the look-back (every daily-partitioned model: events, sessions, order lines,
ad spend) and equals a full refresh on the same data, a sensor run for the NPS file (nothing
dated new for the daily models) leaves them untouched, re-running a day's partition changes
nothing, a backfill of a date range is one run, the schedule asks for the right day.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipelines.transform.partitions import DATED_ENTITIES as MODEL_ENTITY  # model -> entity
from tests.pipeline.runner import check_results, home_env
from tests.reliability.pipeline_home import snapshot, snapshot_diff

# the end-to-end tests share one home (module fixture): one xdist group, marked slow

NEW_DAY = "2024-12-31"
LATE_DAY = "2024-12-29"  # inside the 3-day look-back of NEW_DAY
# daily-partitioned in Dagster, incremental in dbt: {model: its date column}
PARTITIONED = {
    "int_events_sourced": "event_date",
    "int_events_channeled": "event_date",
    "int_sessions": "session_date",
    "int_order_lines_converted": "order_date",
    "fct_ad_spend_daily": "spend_date",
}
# the partitioned models outside the marts schema, compared beside every mart
INTERMEDIATE = (
    "int_events_sourced",
    "int_events_channeled",
    "int_sessions",
    "int_order_lines_converted",
)
ORDERS_FILE = "crm/shopify/orders_export_24.csv"  # December 2024: lands with the GA4 files
NPS_FILE = "crm/nps/delighted-responses-2025-01-01.csv"  # lands last: nothing for the daily models
LOOKBACK_DAYS = 3  # config/segmart.yaml default

# the daily-partitioned raw assets: {asset key: (raw entity, its date column)}
RAW_PARTITIONED = {
    "web/events": ("events", "event_at"),
    "crm/orders": ("orders", "ordered_at"),
    "ads/ad_spend_daily": ("ad_spend_daily", "spend_date"),
}


def _held_back(landing: Path) -> list[Path]:
    days = (NEW_DAY.replace("-", ""), LATE_DAY.replace("-", ""))
    return sorted(p for p in landing.glob("web/ga4/events_*.jsonl.gz") if p.name[7:15] in days)


def _land(source: Path, home: Path, files: list[Path]) -> None:
    """Copy ``files`` into the home's landing, complete long ago (past the stability wait)."""
    old = time.time() - 3600
    for path in files:
        target = home / "landing" / "demo" / path.relative_to(source)
        shutil.copy2(path, target)
        os.utime(target, (old, old))


def _snapshot(home: Path):
    """Every mart table and the partitioned intermediate models, rows in a canonical order."""
    return snapshot(home / "warehouse" / "segmart.duckdb", schemas=("marts",), tables=INTERMEDIATE)


def _count(home: Path, sql: str):
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def _run_partitioned(home: Path, dagster_home: Path, **kwargs):
    """The job without checks, for a partition or with tags: the same assets and partition
    plan as the full job; the checks neither change nor read what these tests compare, and
    cost a third of a run."""
    from pipelines.automation.jobs import NO_CHECKS_JOB_NAME
    from pipelines.definitions import defs

    with home_env(home), dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        job = defs().resolve_job_def(NO_CHECKS_JOB_NAME)
        return job.execute_in_process(instance=instance, raise_on_error=False, **kwargs)


def _sensor_run(home: Path, dagster_home: Path):
    """One tick of the real landing sensor, then the run it requests, as the daemon would
    launch it: the full job with the request's tags, no partition."""
    from pipelines.definitions import defs
    from pipelines.resources import SegmartHome

    with home_env(home), dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        definitions = defs()
        sensor = definitions.resolve_sensor_def("landing_files_sensor")
        context = dg.build_sensor_context(
            instance=instance, resources={"segmart": SegmartHome(home=str(home))}
        )
        request = sensor(context)
        assert isinstance(request, dg.RunRequest), request
        assert request.partition_key is None
        assert not any(tag.startswith("dagster/asset_partition") for tag in request.tags)
        job = definitions.resolve_job_def(sensor.job_name)
        result = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return result, logs


def _daily_builds(result) -> dict[str, tuple[str | None, dict[str, str]]]:
    """{partitioned model: (partition, segmart/* metadata)} of a run without a partition: its
    unpartitioned materialization (a catch-up also records one per rebuilt day, beside it)."""
    out = {}
    for event in result.all_events:
        if event.event_type_value != "ASSET_MATERIALIZATION" or event.partition is not None:
            continue
        key = event.asset_key.to_user_string()
        if key in PARTITIONED:
            metadata = event.event_specific_data.materialization.metadata
            meta = {k: v.value for k, v in metadata.items() if k.startswith("segmart/")}
            assert key not in out, f"{key} materialized twice"
            out[key] = (event.partition, meta)
    return out


def _latest_raw_dates(home: Path) -> dict[str, date]:
    """{dated entity: the latest date in its raw data}, read straight from Parquet."""
    with duckdb.connect() as con:
        return {
            entity: con.execute(
                f"select max(cast({column} as date)) from read_parquet(?, union_by_name = true)",
                [[str(p) for p in (home / "raw" / entity).glob("[0-9a-f]*.parquet")]],
            ).fetchone()[0]
            for entity, column in RAW_PARTITIONED.values()
        }


def _materialized_partitions(result, key: str) -> list[str | None]:
    return sorted(
        (
            e.partition
            for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.to_user_string() == key
        ),
        key=str,
    )


def _raw_days(home: Path, entity: str, column: str, file_names: list[str]) -> list[str]:
    """The UTC days of the raw rows that came from ``file_names``, read from Parquet."""
    with duckdb.connect() as con:
        rows = con.execute(
            f"select distinct cast(cast({column} as date) as varchar) as day "
            "from read_parquet(?, union_by_name = true) "
            f"where {column} is not null "
            "and regexp_extract(_source_file, '[^/]+$') in (select unnest(?)) order by day",
            [[str(p) for p in (home / "raw" / entity).glob("[0-9a-f]*.parquet")], file_names],
        ).fetchall()
    return [day for (day,) in rows]


def _first_order_day(path: Path) -> date:
    """The earliest UTC day of a Shopify export's orders (its ``Created at``, with offset)."""
    created = pd.read_csv(path, usecols=["Created at"])["Created at"]
    return (
        pd.to_datetime(created, format="%Y-%m-%d %H:%M:%S %z", errors="coerce", utc=True)
        .min()
        .date()
    )


@pytest.fixture(scope="module")
def incremental(tmp_path_factory):
    """The base run, new GA4 and orders files, the sensor's run; digests after it and the
    home."""
    from pipelines.generate import generate

    root = tmp_path_factory.mktemp("partitions")
    source = root / "generated"
    generate(source, scale=0.01, seed=11)
    held = _held_back(source)
    assert len(held) >= 2, "the generator should write GA4 files for both days"
    assert (source / ORDERS_FILE).exists()
    home, dagster_home = root / "home", root / "dagster_home"
    dagster_home.mkdir()
    ignored = [p.name for p in held] + [Path(ORDERS_FILE).name, Path(NPS_FILE).name]
    shutil.copytree(source, home / "landing" / "demo", ignore=shutil.ignore_patterns(*ignored))

    # the base run: the job without a partition, as `segmart run` starts it (checks off)
    assert _run_partitioned(home, dagster_home).success, "base run failed"
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        base_run = instance.get_run_records(limit=1)[0].dagster_run.run_id
        base_builds = {
            key: instance.fetch_materializations(dg.AssetKey(key), limit=1).records[0]
            for key in PARTITIONED
        }
    assert all(record.run_id == base_run for record in base_builds.values())
    base_sessions = _count(
        home, f"select count(*) from intermediate.int_sessions where session_date >= '{LATE_DAY}'"
    )
    # the first new day of each dated entity: the late GA4 day, the orders export's first day
    first_new_days = {
        "events": date.fromisoformat(LATE_DAY),
        "orders": _first_order_day(source / ORDERS_FILE),
    }
    assert first_new_days["orders"] < first_new_days["events"]
    base_rows_before_window = {
        table: _count(
            home,
            f"select count(*) from intermediate.{table} where {column} < "
            f"'{first_new_days[MODEL_ENTITY[table]] - timedelta(days=LOOKBACK_DAYS)}'",
        )
        for table, column in PARTITIONED.items()
        if table in INTERMEDIATE
    }
    _land(source, home, [*held, source / ORDERS_FILE])
    result, logs = _sensor_run(home, dagster_home)
    assert result.success, "the sensor's run failed"
    return {
        "home": home,
        "dagster_home": dagster_home,
        "source": source,
        "incremental": _snapshot(home),
        "base_sessions_from_late_day": base_sessions,
        "first_new_days": first_new_days,
        "base_rows_before_window": base_rows_before_window,
        "base_builds": {
            key: {
                k: v.value
                for k, v in record.asset_materialization.metadata.items()
                if k.startswith("segmart/")
            }
            for key, record in base_builds.items()
        },
        "sensor_builds": _daily_builds(result),
        "sensor_partitions": {
            key: _materialized_partitions(result, key) for key in [*PARTITIONED, *RAW_PARTITIONED]
        },
        "new_raw_days": {
            key: _raw_days(home, entity, column, [p.name for p in (*held, source / ORDERS_FILE)])
            for key, (entity, column) in RAW_PARTITIONED.items()
        },
        "sensor_logs": logs,
    }


@pytest.mark.slow
@pytest.mark.xdist_group("partitions_run")
def test_a_sensor_run_builds_only_the_new_days(incremental):
    # the base run (the job, no partition) found no record: full refresh
    for meta in incremental["base_builds"].values():
        assert meta["segmart/window"] == "[-inf, +inf)"
        assert meta["segmart/build_reason"].startswith("no partition: full refresh")
    # each model rebuilt the rows of its own entity's new days: from the first of them minus
    # the look-back to the latest date of that entity in the raw data (+1, end exclusive),
    # not the two years before. The events models start at the late GA4 day, not at the
    # earlier first day of the orders export; no ad spend was new, so its model rebuilt
    # nothing. One unpartitioned materialization per daily-partitioned model says so
    latest = _latest_raw_dates(incremental["home"])
    first = incremental["first_new_days"]
    assert set(incremental["sensor_builds"]) == set(PARTITIONED)
    windows = {}
    for key in PARTITIONED:
        entity = MODEL_ENTITY[key]
        partition, meta = incremental["sensor_builds"][key]
        assert partition is None
        assert "new dated raw file(s)" in meta["segmart/build_reason"]
        if entity not in first:
            assert (meta["segmart/window"], meta["segmart/partitions"]) == ("nothing built", "none")
            assert incremental["sensor_partitions"][key] == [None]
            continue
        start = first[entity] - timedelta(days=LOOKBACK_DAYS)
        windows[entity] = (
            f"[{start.isoformat()}, {(latest[entity] + timedelta(days=1)).isoformat()})"
        )
        assert meta["segmart/partitions"] == f"{first[entity]}..{latest[entity]}"
        assert meta["segmart/window"] == windows[entity]
        # and one materialization per rebuilt day, for Dagster's partition status
        days = [d.date().isoformat() for d in pd.date_range(first[entity], latest[entity])]
        assert incremental["sensor_partitions"][key] == [*days, None]
    # the raw assets of the dated facts: one materialization per day of the new files' rows
    # (GA4 days, the December orders; no new ad spend), beside the unpartitioned one
    new_raw_days = incremental["new_raw_days"]
    assert new_raw_days["web/events"] and new_raw_days["crm/orders"]
    assert new_raw_days["ads/ad_spend_daily"] == []
    for key, raw_days in new_raw_days.items():
        assert incremental["sensor_partitions"][key] == [*raw_days, None]
    logged = [m for m in incremental["sensor_logs"] if m.startswith("Daily-partitioned models:")]
    assert len(logged) == 1
    assert f"rows dated in events {windows['events']}, orders {windows['orders']}" in logged[0]
    # the partitioned intermediate models hold only the rows of the window that changed: the
    # rows dated before it are those of the base run, in number
    home = incremental["home"]
    for table, kept_before in incremental["base_rows_before_window"].items():
        column = PARTITIONED[table]
        start = first[MODEL_ENTITY[table]] - timedelta(days=LOOKBACK_DAYS)
        kept = _count(home, f"select count(*) from intermediate.{table} where {column} < '{start}'")
        assert kept == kept_before
    # the record of the raw files built from now holds the new files
    record = (incremental["home"] / "state" / "partitioned_build.json").read_text()
    for path in (incremental["home"] / "raw" / "events").glob("[0-9a-f]*.parquet"):
        assert f"events/{path.name}" in record


@pytest.mark.slow
@pytest.mark.xdist_group("partitions_run")
def test_incremental_run_equals_a_full_refresh(incremental):
    home = incremental["home"]
    # the late day and the new day reached the partitioned sessions
    late = _count(
        home, f"select count(*) from intermediate.int_sessions where session_date = '{LATE_DAY}'"
    )
    new = _count(
        home, f"select count(*) from intermediate.int_sessions where session_date = '{NEW_DAY}'"
    )
    assert late > 0 and new > 0
    assert late + new > incremental["base_sessions_from_late_day"]
    # the December orders reached the partitioned order lines and the orders mart
    december = _count(
        home,
        "select count(*) from intermediate.int_order_lines_converted "
        "where order_date >= '2024-12-02'",
    )
    assert december > 0
    # a full refresh on the same data: the job tagged segmart/full_refresh=true
    result = _run_partitioned(
        home, incremental["dagster_home"], tags={"segmart/full_refresh": "true"}
    )
    assert result.success
    assert _materialized_partitions(result, "int_sessions") == [None]
    assert _daily_builds(result)["int_sessions"][1]["segmart/window"] == "[-inf, +inf)"
    full = _snapshot(home)
    assert set(PARTITIONED) | {"fct_sessions", "fct_orders", "dim_customers"} <= set(full)
    # every mart equal row by row, floats within 1e-9 relative (parallel sums' last bits)
    assert snapshot_diff(incremental["incremental"], full) == {}


@pytest.mark.slow
@pytest.mark.xdist_group("partitions_run")
def test_rerunning_a_partition_gives_identical_marts(incremental):
    home, dagster_home = incremental["home"], incremental["dagster_home"]
    before = _snapshot(home)
    result = _run_partitioned(home, dagster_home, partition_key=NEW_DAY)
    assert result.success
    assert _materialized_partitions(result, "int_sessions") == [NEW_DAY]
    # the raw assets of the run's partition too (Dagster's record; no file is new)
    for key in RAW_PARTITIONED:
        assert _materialized_partitions(result, key) == [NEW_DAY]
    assert snapshot_diff(before, _snapshot(home)) == {}


@pytest.mark.slow
@pytest.mark.xdist_group("partitions_run")
def test_a_backfill_of_a_date_range_is_one_run(incremental):
    from dagster._core.definitions.automation_tick_evaluation_context import (
        build_run_requests_with_backfill_policies,
    )
    from dagster._core.definitions.events import AssetKeyPartitionKey

    from pipelines.definitions import defs

    home, dagster_home = incremental["home"], incremental["dagster_home"]
    before = _snapshot(home)
    days = [f"2024-12-{day:02d}" for day in range(20, 32)]
    with home_env(home):
        definitions = defs()
        graph = definitions.resolve_asset_graph()
        keys = [dg.AssetKey(k) for k in PARTITIONED] + [
            dg.AssetKey(k.split("/")) for k in RAW_PARTITIONED
        ]
        wanted = [AssetKeyPartitionKey(key, day) for key in keys for day in days]
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            requests = build_run_requests_with_backfill_policies(wanted, graph, instance)
            assert len(requests) == 1
            request = requests[0]
            assert request.tags["dagster/asset_partition_range_start"] == days[0]
            assert request.tags["dagster/asset_partition_range_end"] == days[-1]
            runs_before = instance.get_runs_count()
            result = definitions.resolve_job_def("segmart_full").execute_in_process(
                instance=instance,
                asset_selection=list(request.asset_selection),
                tags=request.tags,
                raise_on_error=False,
            )
            assert result.success
            assert instance.get_runs_count() == runs_before + 1
    assert _materialized_partitions(result, "int_sessions") == days
    for key in RAW_PARTITIONED:  # the raw days too, in the same run
        assert _materialized_partitions(result, key) == days
    assert snapshot_diff(before, _snapshot(home)) == {}


@pytest.mark.slow
@pytest.mark.xdist_group("partitions_run")
def test_a_sensor_run_with_nothing_dated_new_leaves_the_partitioned_models_untouched(
    incremental,
):
    home, dagster_home = incremental["home"], incremental["dagster_home"]
    database = home / "warehouse" / "segmart.duckdb"
    before = snapshot(database, tables=tuple(PARTITIONED))
    record = (home / "state" / "partitioned_build.json").read_text()
    responses_before = _count(home, "select count(*) from marts.fct_nps_responses")
    _land(incremental["source"], home, [incremental["source"] / NPS_FILE])

    result, logs = _sensor_run(home, dagster_home)
    assert result.success
    # no dbt build of the daily models (none of their dbt tests ran), the tables untouched,
    # the record kept; their outputs say so, so the marts after them still ran
    builds = _daily_builds(result)
    assert set(builds) == set(PARTITIONED)
    for key in RAW_PARTITIONED:  # materialized, no day loaded
        assert _materialized_partitions(result, key) == [None]
    for key in PARTITIONED:
        assert _materialized_partitions(result, key) == [None]  # no day rebuilt
        partition, meta = builds[key]
        assert partition is None
        assert meta["segmart/window"] == "nothing built"
        assert meta["segmart/build_reason"] == "no partition: no new dated raw data"
    dbt_tests = [
        e
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.step_key in ("segmart_dbt_daily", "segmart_dbt_upstream")
        and e.event_specific_data.asset_key.to_user_string() in PARTITIONED
    ]
    assert dbt_tests == []
    assert check_results(result)  # the raw, dbt and reconciliation checks after them did run
    assert any(m.startswith("Daily-partitioned models: nothing to build") for m in logs)
    assert snapshot_diff(before, snapshot(database, tables=tuple(PARTITIONED))) == {}
    assert (home / "state" / "partitioned_build.json").read_text() == record
    assert _count(home, "select count(*) from marts.fct_nps_responses") > responses_before

    # the daily models alone with nothing new: no materialization at all, still a success
    alone = _run_partitioned(
        home, dagster_home, asset_selection=[dg.AssetKey(k) for k in PARTITIONED]
    )
    assert alone.success
    assert _daily_builds(alone) == {}
    assert snapshot_diff(before, snapshot(database, tables=tuple(PARTITIONED))) == {}


def test_the_daily_schedule_requests_the_day_that_ended(tmp_path):
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
    assert [r.partition_key for r in requests] == ["2024-12-31"]
    assert requests[0].job_name == "segmart_full"


# --------------------------------------------------------------------------- windows and plans


def test_the_window_of_a_partition_range_includes_the_look_back():
    from pipelines.transform.partitions import Window, window_for

    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)  # newest partition: 2024-02-29
    window = window_for(daily, "2024-02-10", "2024-02-12", 3, current_time=now)
    assert (window.start.isoformat(), window.end.isoformat()) == ("2024-02-07", "2024-02-13")
    assert window.env() == {
        "SEGMART_WINDOW_START": "2024-02-07",
        "SEGMART_WINDOW_END": "2024-02-13",
    }
    # the newest partition leaves the end open (rows dated today), the first one the start
    assert window_for(daily, "2024-02-29", "2024-02-29", 3, current_time=now).end is None
    assert window_for(daily, "2024-01-01", "2024-01-05", 3, current_time=now).start is None
    assert window_for(daily, "2024-01-01", "2024-02-29", 0, current_time=now) == Window(None, None)


def _write_raw(home: Path, entity: str, name: str, column: str, values: list[str]) -> Path:
    """A raw file of ``entity``: the date ``column`` and its natural key, unique per row."""
    from pipelines.ingest.contract import entities

    folder = home / "raw" / entity
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    frame = pd.DataFrame({column: pd.to_datetime(values)})
    for key in entities()[entity].key:
        if key != column:
            frame[key] = [f"{name}-{i}" for i in range(len(frame))]
    frame.to_parquet(path)
    return path


def _warehouse_with(home: Path, columns: dict[str, set[str]]) -> None:
    (home / "warehouse").mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb")) as con:
        for table, names in columns.items():
            con.execute(
                f"create table {table} ({', '.join(f'{c} varchar' for c in sorted(names))})"
            )


def test_segmart_run_plans_from_the_raw_files_since_the_last_build(tmp_path):
    from pipelines.settings import home_paths
    from pipelines.transform.catchup import declared_columns, plan_partitions, save_snapshot
    from pipelines.transform.project import dbt_project, ensure_manifest

    manifest = ensure_manifest(dbt_project())
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    paths = home_paths(tmp_path)
    _write_raw(tmp_path, "events", "aa01", "event_at", ["2024-02-01 10:00", "2024-02-03 23:00"])
    _write_raw(tmp_path, "ad_spend_daily", "bb01", "spend_date", ["2024-02-02"])

    def plan():
        return plan_partitions(paths, daily, manifest, current_time=now)

    first, snapshot = plan()  # no warehouse, no record
    assert (first.rebuild, first.full_refresh, first.partition_range) == (True, True, None)
    declared = declared_columns(manifest)
    assert set(declared) == set(PARTITIONED)
    _warehouse_with(tmp_path, declared)
    save_snapshot(paths, snapshot)
    nothing, _ = plan()
    assert (nothing.rebuild, nothing.partition_range) == (False, None)

    # a late events file for 2024-02-02 and a spend file for 2024-02-05: one range from the
    # late day to the latest date in the data
    _write_raw(tmp_path, "events", "aa02", "event_at", ["2024-02-02 08:00"])
    _write_raw(tmp_path, "ad_spend_daily", "bb02", "spend_date", ["2024-02-05"])
    new, snapshot = plan()
    assert (new.rebuild, new.full_refresh) == (True, False)
    assert new.partition_range == dg.PartitionKeyRange("2024-02-02", "2024-02-05")
    # each entity from its own first new day to its own latest date
    assert new.entity_ranges == {
        "events": dg.PartitionKeyRange("2024-02-02", "2024-02-03"),
        "ad_spend_daily": dg.PartitionKeyRange("2024-02-05", "2024-02-05"),
    }
    save_snapshot(paths, snapshot)

    # a removed raw file (an unload) or changed model columns: a full refresh
    (tmp_path / "raw" / "events" / "aa01.parquet").unlink()
    removed, snapshot = plan()
    assert (removed.full_refresh, removed.partition_range) == (True, None)
    save_snapshot(paths, snapshot)
    assert not plan()[0].rebuild
    with duckdb.connect(str(tmp_path / "warehouse" / "segmart.duckdb")) as con:
        con.execute("alter table int_sessions add column person_key varchar")
    changed, _ = plan()
    assert changed.full_refresh and "columns of int_sessions changed" in changed.reason
    with duckdb.connect(str(tmp_path / "warehouse" / "segmart.duckdb")) as con:
        con.execute("alter table int_sessions drop column person_key")
    assert not plan()[0].rebuild

    # a change of the home's dbt vars (or of the code, e.g. the FX seed): a full refresh
    (tmp_path / "segmart.yaml").write_text("dbt_vars:\n  session_timeout_minutes: 45\n")
    reconfigured, snapshot = plan()
    assert reconfigured.full_refresh
    assert (
        reconfigured.reason
        == "full refresh: the code or configuration changed since the last build"
    )
    save_snapshot(paths, snapshot)
    assert not plan()[0].rebuild


def test_a_re_exported_order_line_also_rebuilds_the_day_of_its_earlier_version(tmp_path):
    """Staging keeps a natural key's latest version: when a new export moves an order line to
    another day, the day it left must be rebuilt too, or its stale copy would stay there."""
    from pipelines.settings import home_paths
    from pipelines.transform.catchup import declared_columns, plan_partitions, save_snapshot
    from pipelines.transform.project import dbt_project, ensure_manifest

    manifest = ensure_manifest(dbt_project())
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    paths = home_paths(tmp_path)
    folder = tmp_path / "raw" / "orders"
    folder.mkdir(parents=True)

    def write(name: str, lines: list[tuple[str, str, str]]) -> None:
        frame = pd.DataFrame(lines, columns=["order_id", "order_line_id", "ordered_at"])
        frame["ordered_at"] = pd.to_datetime(frame["ordered_at"])
        frame.to_parquet(folder / f"{name}.parquet")

    def plan():
        return plan_partitions(paths, daily, manifest, current_time=now)

    write("cc01", [("A", "1", "2024-01-10 10:00"), ("B", "1", "2024-02-01 09:00")])
    _warehouse_with(tmp_path, declared_columns(manifest))
    save_snapshot(paths, plan()[1])
    # new lines only: their own days, to the latest date in the data
    write("cc02", [("C", "1", "2024-02-20 08:00")])
    fresh, snapshot = plan()
    assert fresh.partition_range == dg.PartitionKeyRange("2024-02-20", "2024-02-20")
    save_snapshot(paths, snapshot)
    # line A/1 re-exported on another day: its earlier day (2024-01-10) is rebuilt as well
    write("cc03", [("A", "1", "2024-02-21 10:00"), ("D", "1", "2024-02-21 11:00")])
    moved, _ = plan()
    assert moved.partition_range == dg.PartitionKeyRange("2024-01-10", "2024-02-21")
    # the same key in a line of another order is another line: no earlier version
    write("cc03", [("A", "2", "2024-02-21 10:00"), ("D", "1", "2024-02-21 11:00")])
    other, _ = plan()
    assert other.partition_range == dg.PartitionKeyRange("2024-02-21", "2024-02-21")
    assert set(other.entity_ranges) == {"orders"}


def test_a_run_without_a_partition_builds_the_plan_with_the_look_back(tmp_path):
    from pipelines.settings import home_paths
    from pipelines.transform.catchup import (
        daily_build,
        declared_columns,
        plan_partitions,
        save_snapshot,
    )
    from pipelines.transform.partitions import Window
    from pipelines.transform.project import dbt_project, ensure_manifest

    manifest = ensure_manifest(dbt_project())
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")
    paths = home_paths(tmp_path)
    _write_raw(tmp_path, "events", "aa01", "event_at", ["2024-02-01 10:00"])
    _warehouse_with(tmp_path, declared_columns(manifest))

    def build(tags=None, keys=None):
        return daily_build(paths, daily, manifest, 3, tags or {}, keys)

    fresh = build()  # no record yet: a full refresh, recording the raw files afterwards
    assert (fresh.window, fresh.full_refresh, fresh.partitions) == (Window(None, None), True, "all")
    assert set(fresh.snapshot) == {"events/aa01.parquet"}
    save_snapshot(paths, fresh.snapshot)
    nothing = build()
    assert (nothing.window, nothing.snapshot) == (None, None)
    assert nothing.metadata()["segmart/window"] == "nothing built"

    _write_raw(tmp_path, "events", "aa02", "event_at", ["2024-02-10 08:00", "2024-02-12 09:00"])
    new = build()
    assert (new.window.start, new.partitions) == (date(2024, 2, 7), "2024-02-10..2024-02-12")
    assert new.window.end == date(2024, 2, 13)  # the newest partition is yesterday: closed
    assert new.snapshot == plan_partitions(paths, daily, manifest)[1]
    # only the events models rebuild; the others get an empty window of their own
    assert new.model_window("int_sessions") == new.window
    assert new.model_window("fct_ad_spend_daily") is None
    env = new.env()
    assert (env["SEGMART_WINDOW_START"], env["SEGMART_WINDOW_END"]) == ("2024-02-07", "2024-02-13")
    assert env["SEGMART_WINDOW_START__INT_SESSIONS"] == "2024-02-07"
    start, end = (
        env["SEGMART_WINDOW_START__FCT_AD_SPEND_DAILY"],
        env["SEGMART_WINDOW_END__FCT_AD_SPEND_DAILY"],
    )
    assert start == end  # no row
    assert new.metadata("int_order_lines_converted")["segmart/window"] == "nothing built"
    assert new.metadata("int_sessions")["segmart/partitions"] == "2024-02-10..2024-02-12"
    # a partitioned run keeps its window and the record; a tagged run refreshes everything
    keys = dg.PartitionKeyRange("2024-02-01", "2024-02-01")
    explicit = build(keys=keys)
    assert (str(explicit.window), explicit.snapshot) == ("[2024-01-29, 2024-02-02)", None)
    # a partitioned run builds the same window for every model: none of their own
    assert explicit.model_window("fct_ad_spend_daily") == explicit.window
    assert explicit.env()["SEGMART_WINDOW_START__FCT_AD_SPEND_DAILY"] == ""
    tagged = build(tags={"segmart/full_refresh": "true"}, keys=keys)
    assert (tagged.window, tagged.full_refresh) == (Window(None, None), True)
    assert set(tagged.snapshot) == {"events/aa01.parquet", "events/aa02.parquet"}
