"""Which daily partitions a run without a partition rebuilds, from what the raw layer gained.

A run of the full job without a partition (the landing sensor, ``segmart run``, ``dagster job
execute``) leaves the choice to the daily-partitioned dbt asset (``segmart_dbt_daily``): after
the run's ingest, it plans here and builds the planned window.

The raw layer is append-only Parquet, one file per landed file. The dated raw files that the
daily-partitioned models were last built from are recorded in
``{home}/state/partitioned_build.json`` (path → size and mtime). Against that record:

* no record, a partitioned table missing from the warehouse, its columns no longer those the
  dbt project declares, or a dated raw file removed (an unload): a full refresh, as an
  unpartitioned run (recording a materialisation per day of years of data costs Dagster
  minutes of event-log writes; the asset shows one unpartitioned materialisation);
* new dated raw files, or files rewritten in place (``segmart forget``): per dated entity
  (events, orders, ad spend), the partitions from the earliest date in its new files to the
  latest date in its raw data, as one run. Each model rebuilds the window of the entity it
  follows (``DATED_ENTITIES``) and nothing of the others: an ad platform's export restating
  the last 30 days of spend does not re-sessionise 30 days of events. Every day after a late
  one is rebuilt, so the columns counting a visitor's earlier sessions stay right. A row of a
  new file whose natural key is in older raw files too (a re-exported order line) replaces
  those versions in staging: the earliest date of those versions counts as well, so a line
  whose date moved leaves no stale copy on its old day;
* the code (dbt models, macros, seeds such as the FX rates) or the home's configuration
  (dbt vars) changed since that build (hashes kept in the record): a full refresh;
* nothing new: the partitioned models are left as they are.

The record is written only after a successful build, so a failed run is caught up next time.
A run with a partition (the schedule, a backfill) builds its own window and keeps the record;
a run tagged ``segmart/full_refresh=true`` rebuilds everything and records the raw state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.settings import HomePaths
from pipelines.transform.partitions import (
    DATED_ENTITIES,
    NOTHING_ENV,
    Window,
    model_window_env,
    range_for_dates,
    window_for,
)

STATE_FILE = "partitioned_build.json"
FULL_REFRESH_TAG = "segmart/full_refresh"


@dataclass(frozen=True)
class PartitionPlan:
    """What the transform run does with the daily-partitioned models.

    ``partition_range`` covers every entity's range; ``entity_ranges`` holds the range of each
    dated entity with new rows (an incremental catch-up; empty otherwise).
    """

    rebuild: bool
    full_refresh: bool
    partition_range: dg.PartitionKeyRange | None
    reason: str
    entity_ranges: Mapping[str, dg.PartitionKeyRange] = field(default_factory=dict)


def _dated_entities():
    from pipelines.ingest.contract import entities

    contract = entities()
    return {name: contract[name] for name in sorted(set(DATED_ENTITIES.values()))}


def raw_snapshot(paths: HomePaths) -> dict[str, list[int]]:
    """{relative path: [size, mtime_ns]} of the dated entities' raw data files."""
    from pipelines.automation.up_to_date import file_stats

    out = {}
    for entity in _dated_entities():
        stats = file_stats(paths.raw / entity, "[0-9a-f]*.parquet")
        out |= {f"{entity}/{name}": stat for name, stat in stats.items()}
    return out


def build_inputs(paths: HomePaths) -> dict[str, str]:
    """What else the partitioned models are a function of: the code (dbt models, macros,
    seeds such as the FX rates, Python) and the home's configuration (dbt vars)."""
    from pipelines.automation.up_to_date import code_hash, config_hash

    return {"code": code_hash(), "config": config_hash(paths)}


def save_snapshot(paths: HomePaths, snapshot: dict[str, list[int]]) -> None:
    """Record ``snapshot`` (and the code and configuration) as what the partitioned models
    were built from."""
    from pipelines.ingest.manifest import atomic_write_text

    paths.state.mkdir(parents=True, exist_ok=True)
    record = {
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": snapshot,
        "inputs": build_inputs(paths),
    }
    atomic_write_text(paths.state / STATE_FILE, json.dumps(record, indent=1, sort_keys=True))


def _saved_record(paths: HomePaths) -> dict | None:
    target = paths.state / STATE_FILE
    if not target.exists():
        return None
    try:
        record = json.loads(target.read_text())
        return record if isinstance(record.get("files"), dict) else None
    except ValueError:
        return None


def date_spans(
    paths: HomePaths, files: list[str], others: list[str] = ()
) -> dict[str, tuple[date, date]]:
    """{dated entity: (earliest, latest) date (dated_by column, UTC)} in the given raw files;
    an entity without a dated row in them is left out.

    With ``others`` (the other raw files), also the dates of the earlier versions, in them,
    of the natural keys ``files`` hold: staging keeps only a key's latest version, so the day
    an earlier version sits on changes too.
    """
    spans = {}
    with duckdb.connect() as con:
        for entity, ent in _dated_entities().items():
            chosen = [str(paths.raw / f) for f in files if f.startswith(f"{entity}/")]
            if not chosen:
                continue
            column = f'cast("{ent.dated_by}" as date)'
            until = column  # a period row (ad spend of a UI report) counts up to its last day
            if ent.dated_until:
                until = f'coalesce(try_cast("{ent.dated_until}" as date), {column})'
            keys = ", ".join(f'"{k}"' for k in ent.key)
            sql = (
                f"select {column} as day, {until} as last_day"
                " from read_parquet($files, union_by_name = true)"
            )
            schema = paths.raw / entity / "_schema.parquet"  # zero rows, every contract column
            params = {"files": chosen + ([str(schema)] if schema.exists() else [])}
            earlier = sorted(str(paths.raw / f) for f in others if f.startswith(f"{entity}/"))
            if earlier and ent.dated_by not in ent.key:  # a key with its date cannot move days
                sql += (
                    f" union all select old.day, old.last_day from (select {keys}, {column} as day,"
                    f" {until} as last_day"
                    " from read_parquet($earlier, union_by_name = true)) as old"
                    f" semi join (select distinct {keys} from read_parquet($files, union_by_name ="
                    f" true)) as new using ({keys})"
                )
                params["earlier"] = earlier
            span = con.execute(f"select min(day), max(last_day) from ({sql})", params).fetchone()
            if span[0] is not None:
                spans[entity] = span
    return spans


def _warehouse_matches(paths: HomePaths, expected: dict[str, set[str]]) -> str | None:
    """None when every partitioned table exists with the declared columns, else why not."""
    if not paths.warehouse.exists():
        return "no warehouse yet"
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        rows = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_name in (select unnest(?))",
            [sorted(expected)],
        ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    for table, columns in expected.items():
        if table not in found:
            return f"{table} not built yet"
        if columns and found[table] != columns:
            return f"the columns of {table} changed"
    return None


def declared_columns(manifest_path: Path) -> dict[str, set[str]]:
    """The columns the dbt project declares (YAML) for each daily-partitioned model."""
    nodes = json.loads(manifest_path.read_text())["nodes"]
    out = {}
    for node in nodes.values():
        if node.get("resource_type") == "model" and node["name"] in DATED_ENTITIES:
            out[node["name"]] = set(node.get("columns", {}))
    return out


def plan_partitions(
    paths: HomePaths,
    partitions_def: dg.DailyPartitionsDefinition,
    manifest_path: Path,
    current_time: datetime | None = None,
) -> tuple[PartitionPlan, dict[str, list[int]]]:
    """The plan for the daily-partitioned models, and the raw snapshot it is based on."""
    snapshot = raw_snapshot(paths)
    record = _saved_record(paths)
    saved = record["files"] if record else None
    mismatch = _warehouse_matches(paths, declared_columns(manifest_path))
    removed = sorted(set(saved or {}) - set(snapshot))
    inputs_changed = record is not None and record.get("inputs") != build_inputs(paths)
    if saved is None or mismatch or removed or inputs_changed:
        reason = (
            mismatch
            or (removed and f"{len(removed)} dated raw file(s) removed")
            or (inputs_changed and "the code or configuration changed since the last build")
            or "no record of a previous partitioned build"
        )
        return PartitionPlan(True, True, None, f"full refresh: {reason}"), snapshot
    changed = sorted(f for f, stat in snapshot.items() if saved.get(f) != stat)
    if not changed:
        return PartitionPlan(False, False, None, "no new dated raw data"), snapshot
    unchanged = sorted(set(snapshot) - set(changed))
    new_spans = date_spans(paths, changed, unchanged)
    data_spans = date_spans(paths, sorted({f for f in snapshot if f.split("/")[0] in new_spans}))
    if not new_spans:  # new files without a single dated row
        return PartitionPlan(False, False, None, "new dated raw files hold no rows"), snapshot
    ranges = {}
    for entity, (first, _) in new_spans.items():
        key_range = range_for_dates(partitions_def, first, data_spans[entity][1], current_time)
        if key_range is None:
            return PartitionPlan(True, True, None, "full refresh: no partition yet"), snapshot
        ranges[entity] = key_range
    covering = dg.PartitionKeyRange(
        min(r.start for r in ranges.values()), max(r.end for r in ranges.values())
    )
    per_entity = ", ".join(f"{e} {r.start}..{r.end}" for e, r in sorted(ranges.items()))
    first_day = min(first for first, _ in new_spans.values())
    reason = (
        f"{len(changed)} new dated raw file(s) from {first_day.isoformat()}: partitions "
        f"{per_entity}"
    )
    return PartitionPlan(True, False, covering, reason, ranges), snapshot


@dataclass(frozen=True)
class DailyBuild:
    """What one run builds of the daily-partitioned models, and why.

    ``window`` None: nothing to build. ``snapshot``: the raw state to record once the build
    succeeded (None: leave the record as it is). ``partition_range``: the partitions an
    incremental build rebuilds (None for a full refresh or nothing). ``entity_windows`` /
    ``entity_ranges``: a catch-up's window and partitions per dated entity with new rows; a
    model following another entity rebuilds nothing. Without them every model builds
    ``window``.
    """

    window: Window | None
    full_refresh: bool
    partitions: str
    reason: str
    snapshot: dict[str, list[int]] | None = None
    partition_range: dg.PartitionKeyRange | None = None
    entity_windows: Mapping[str, Window] | None = None
    entity_ranges: Mapping[str, dg.PartitionKeyRange] | None = None

    def model_window(self, model: str) -> Window | None:
        """The window ``model`` rebuilds; None: nothing."""
        if self.entity_windows is None:
            return self.window
        return self.entity_windows.get(DATED_ENTITIES[model])

    def model_range(self, model: str) -> dg.PartitionKeyRange | None:
        """The partitions ``model`` rebuilds incrementally; None: none, or a full refresh."""
        if self.entity_ranges is None:
            return self.partition_range
        return self.entity_ranges.get(DATED_ENTITIES[model])

    def env(self) -> dict[str, str]:
        """dbt's window variables (macros/incremental/window.sql): the run's window, and each
        model's own where it differs ('' = none of its own)."""
        out = (self.window or Window(None, None)).env()
        for model in DATED_ENTITIES:
            names = model_window_env(model)
            if self.entity_windows is None:
                out |= dict.fromkeys(names, "")
                continue
            window = self.model_window(model)
            values = NOTHING_ENV if window is None else tuple(window.env().values())
            out |= dict(zip(names, values, strict=True))
        return out

    def metadata(self, model: str | None = None) -> dict[str, str]:
        """Materialization metadata: the window built (or none) and why; of ``model`` when
        given."""
        window = self.window if model is None else self.model_window(model)
        partitions = self.partitions
        if model is not None and self.entity_ranges is not None:
            own = self.model_range(model)
            partitions = f"{own.start}..{own.end}" if own else "none"
        return {
            "segmart/window": str(window) if window else "nothing built",
            "segmart/partitions": partitions,
            "segmart/build_reason": self.reason,
        }

    def __str__(self) -> str:
        if self.window is None:
            return f"nothing to build ({self.reason})"
        kind = "full refresh" if self.full_refresh else f"rows dated in {self.window}"
        if self.entity_windows is not None:
            kind = "rows dated in " + ", ".join(
                f"{e} {w}" for e, w in sorted(self.entity_windows.items())
            )
        return f"{kind}, partitions {self.partitions} ({self.reason})"


def daily_build(
    paths: HomePaths,
    partitions_def: dg.DailyPartitionsDefinition,
    manifest_path: Path,
    lookback_days: int,
    run_tags: dict[str, str],
    partition_range: dg.PartitionKeyRange | None,
) -> DailyBuild:
    """The build of a run: tagged full refresh, else the run's partitions, else the plan."""
    if run_tags.get(FULL_REFRESH_TAG) == "true":
        reason = f"run tagged {FULL_REFRESH_TAG}=true"
        return DailyBuild(Window(None, None), True, "all", reason, raw_snapshot(paths))
    snapshot = None
    if partition_range is not None:
        reason = "partitions of the run"
        entity_ranges = None
    else:
        plan, snapshot = plan_partitions(paths, partitions_def, manifest_path)
        reason = f"no partition: {plan.reason}"
        if not plan.rebuild:
            return DailyBuild(None, False, "none", reason)
        if plan.full_refresh or plan.partition_range is None:
            return DailyBuild(Window(None, None), True, "all", reason, snapshot)
        partition_range = plan.partition_range
        entity_ranges = dict(plan.entity_ranges)
    first, last = partition_range.start, partition_range.end
    window = window_for(partitions_def, first, last, lookback_days)
    reason += f", {lookback_days} look-back day(s)"
    entity_windows = None
    if entity_ranges is not None:
        entity_windows = {
            entity: window_for(partitions_def, r.start, r.end, lookback_days)
            for entity, r in entity_ranges.items()
        }
    return DailyBuild(
        window,
        False,
        f"{first}..{last}",
        reason,
        snapshot,
        partition_range,
        entity_windows,
        entity_ranges,
    )
