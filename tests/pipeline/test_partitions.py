"""Daily partitions and incremental dbt models, on the real Dagster job and real dbt.

One small generated home: the base landing without the newest GA4 day and without an
earlier day inside the look-back (its events arrive late, with the newest day), run with
``segmart run``; then the held-back files land and are built incrementally. The proofs:
the incremental build equals a full refresh on the same data, re-running a day's partition
changes nothing, a backfill of a date range is one run, the schedule asks for the right day.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.pipeline.runner import home_env, run_job
from tests.reliability.pipeline_home import snapshot, snapshot_diff

# the end-to-end tests share one home (module fixture): one xdist group, marked slow

NEW_DAY = "2024-12-31"
LATE_DAY = "2024-12-29"  # inside the 3-day look-back of NEW_DAY
PARTITIONED = ("int_sessions", "fct_ad_spend_daily")


def _held_back(landing: Path) -> list[Path]:
    days = (NEW_DAY.replace("-", ""), LATE_DAY.replace("-", ""))
    return sorted(p for p in landing.glob("web/ga4/events_*.jsonl.gz") if p.name[7:15] in days)


def _snapshot(home: Path):
    """Every mart table and the partitioned intermediate model, rows in a canonical order."""
    return snapshot(
        home / "warehouse" / "segmart.duckdb", schemas=("marts",), tables=("int_sessions",)
    )


def _count(home: Path, sql: str):
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def _segmart_run(home: Path, dagster_home: Path) -> bool:
    """``segmart run``'s own code path (two runs and the partition plan), in process."""
    from pipelines.cli import _run_pipeline

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with home_env(home):
            return _run_pipeline(skip_checks=False)
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def _run_partitioned(home: Path, dagster_home: Path, **kwargs):
    """The full job of the project's Definitions, for a partition or with tags."""
    from pipelines.definitions import defs

    with home_env(home), dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        job = defs().resolve_job_def("segmart_full")
        return job.execute_in_process(instance=instance, raise_on_error=False, **kwargs)


def _materialized_partitions(result, key: str) -> list[str | None]:
    return sorted(
        (
            e.partition
            for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.to_user_string() == key
        ),
        key=str,
    )


@pytest.fixture(scope="module")
def incremental(tmp_path_factory):
    """Base run, new files, incremental `segmart run`; digests after it and the home."""
    from pipelines.generate import generate

    root = tmp_path_factory.mktemp("partitions")
    source = root / "generated"
    generate(source, scale=0.01, seed=11)
    held = _held_back(source)
    assert len(held) >= 2, "the generator should write GA4 files for both days"
    home, dagster_home = root / "home", root / "dagster_home"
    dagster_home.mkdir()
    shutil.copytree(
        source, home / "landing" / "demo", ignore=shutil.ignore_patterns(*[p.name for p in held])
    )

    assert _segmart_run(home, dagster_home), "base run failed"
    base_sessions = _count(
        home, f"select count(*) from intermediate.int_sessions where session_date >= '{LATE_DAY}'"
    )
    for path in held:
        target = home / "landing" / "demo" / path.relative_to(source)
        shutil.copy2(path, target)
    assert _segmart_run(home, dagster_home), "incremental run failed"
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        last_run = instance.get_run_records(limit=1)[0].dagster_run.run_id
        built = sorted(
            record.event_log_entry.dagster_event.partition
            for record in instance.fetch_materializations(
                dg.AssetKey("int_sessions"), limit=100
            ).records
            if record.run_id == last_run
        )
    return {
        "home": home,
        "dagster_home": dagster_home,
        "incremental": _snapshot(home),
        "base_sessions_from_late_day": base_sessions,
        "built_partitions": built,
    }


@pytest.mark.slow
@pytest.mark.xdist_group("partitions_run")
def test_segmart_run_builds_only_the_new_days(incremental):
    # the new files start on the late day: segmart run rebuilt the partitions from it to the
    # latest date in the raw data (one run), not the two years before
    home = incremental["home"]
    with duckdb.connect() as con:
        latest = max(
            con.execute(
                f"select max(cast({column} as date)) from read_parquet(?, union_by_name = true)",
                [[str(p) for p in (home / "raw" / entity).glob("[0-9a-f]*.parquet")]],
            ).fetchone()[0]
            for entity, column in (("events", "event_at"), ("ad_spend_daily", "spend_date"))
        )
    expected = [
        d.date().isoformat() for d in pd.date_range(LATE_DAY, latest, freq="D").to_pydatetime()
    ]
    assert incremental["built_partitions"] == expected


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
    # a full refresh on the same data: the unpartitioned job rebuilds the partitioned models
    result = run_job(home)
    assert result.success
    assert _materialized_partitions(result, "int_sessions") == [None]
    full = _snapshot(home)
    assert {"int_sessions", "fct_sessions", "fct_touchpoints", "fct_ad_spend_daily"} <= set(full)
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
        wanted = [
            AssetKeyPartitionKey(dg.AssetKey(key), day) for key in PARTITIONED for day in days
        ]
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
    assert snapshot_diff(before, _snapshot(home)) == {}


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
    import pandas as pd

    folder = home / "raw" / entity
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    pd.DataFrame({column: pd.to_datetime(values)}).to_parquet(path)
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
    assert first.tags() == {"segmart/full_refresh": "true"}
    declared = declared_columns(manifest)
    assert set(declared) == set(PARTITIONED)
    _warehouse_with(tmp_path, declared)
    save_snapshot(paths, snapshot)
    nothing, _ = plan()
    assert (nothing.rebuild, nothing.tags()) == (False, {})

    # a late events file for 2024-02-02 and a spend file for 2024-02-05: one range from the
    # late day to the latest date in the data
    _write_raw(tmp_path, "events", "aa02", "event_at", ["2024-02-02 08:00"])
    _write_raw(tmp_path, "ad_spend_daily", "bb02", "spend_date", ["2024-02-05"])
    new, snapshot = plan()
    assert (new.rebuild, new.full_refresh) == (True, False)
    assert new.tags() == {
        "dagster/asset_partition_range_start": "2024-02-02",
        "dagster/asset_partition_range_end": "2024-02-05",
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
