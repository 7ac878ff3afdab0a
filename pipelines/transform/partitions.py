"""Daily partitions of the dated dbt models, their look-back, and the dbt window of a run.

The dated facts (dbt tag ``daily_partitioned``) are daily-partitioned in Dagster and
incremental in dbt over a window of days: the web events (int_events_sourced,
int_events_channeled), the sessions built from them (int_sessions), the order lines
(int_order_lines_converted) and the ad spend (fct_ad_spend_daily). A run of the partition
range [first, last] rebuilds the rows dated in [first − lookback_days, last + 1 day): late
rows and ad conversions the platforms revised within the look-back are replaced. A bound at
the edge of the partitions is left open, so a range reaching the newest partition also
rebuilds rows dated after it (today's, still incomplete), and one starting at the first
partition rows dated before ``start_date``. A run without a partition (the landing sensor's,
``segmart run``) rebuilds everything (``--full-refresh``) or what the raw layer gained
(pipelines/transform/catchup.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from pipelines.settings import load_config

PARTITIONED_TAG = "daily_partitioned"
# the raw entity (pipelines/ingest/entities.yaml) whose dates each daily-partitioned model
# follows
DATED_ENTITIES = {
    "int_events_sourced": "events",
    "int_events_channeled": "events",
    "int_sessions": "events",
    "int_order_lines_converted": "orders",
    "fct_ad_spend_daily": "ad_spend_daily",
}
# the raw entities whose Dagster assets are daily-partitioned too: those the models follow
PARTITIONED_ENTITIES = frozenset(DATED_ENTITIES.values())
# A run without a partition records one materialization per asset and day it rebuilt (or
# loaded), so that Dagster's partition status shows them; over more days (a full refresh, a
# first load of years of history, ``segmart forget``) it records none: each is an event-log
# write, 4 ms with pooled connections (benchmarks/dagster_events.py), times every asset.
MAX_RECORDED_DAYS = 62
WINDOW_ENV = ("SEGMART_WINDOW_START", "SEGMART_WINDOW_END")
# a model's own window, where it differs from the run's (a catch-up rebuilds each dated
# entity's new days only): SEGMART_WINDOW_START__INT_SESSIONS, ...; NOTHING_ENV: no row
NOTHING_ENV = ("1970-01-01", "1970-01-01")


def model_window_env(model: str) -> tuple[str, str]:
    """The names of ``model``'s own window variables (macros/incremental/window.sql)."""
    return tuple(f"{name}__{model.upper()}" for name in WINDOW_ENV)


def all_window_env() -> tuple[str, ...]:
    """Every window variable: the run's and each daily-partitioned model's own."""
    return WINDOW_ENV + tuple(n for model in DATED_ENTITIES for n in model_window_env(model))


DEFAULT_START_DATE = "2020-01-01"
DEFAULT_LOOKBACK_DAYS = 3


@dataclass(frozen=True)
class PartitionSettings:
    """``partitions:`` of config/segmart.yaml."""

    start_date: date
    lookback_days: int


def partition_settings(home: str | os.PathLike | None = None) -> PartitionSettings:
    """Read and validate ``partitions.start_date`` / ``partitions.lookback_days``."""
    raw = load_config(home).get("partitions") or {}
    start = raw.get("start_date", DEFAULT_START_DATE)
    try:
        start_date = start if isinstance(start, date) else date.fromisoformat(str(start))
    except ValueError as error:
        raise ValueError(
            f"partitions.start_date must be a date (YYYY-MM-DD), got {start!r}"
        ) from error
    lookback = raw.get("lookback_days", DEFAULT_LOOKBACK_DAYS)
    if not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 0:
        raise ValueError(f"partitions.lookback_days must be a whole number >= 0, got {lookback!r}")
    return PartitionSettings(start_date=start_date, lookback_days=lookback)


def daily_partitions(settings: PartitionSettings) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from ``start_date`` to yesterday (the last complete day)."""
    return dg.DailyPartitionsDefinition(start_date=settings.start_date.isoformat(), timezone="UTC")


@dataclass(frozen=True)
class Window:
    """Rows dated in [start, end) are rebuilt; None is an open bound."""

    start: date | None
    end: date | None

    def env(self) -> dict[str, str]:
        """SEGMART_WINDOW_START / _END for dbt (macros/incremental/window.sql); '' = open."""
        return {
            WINDOW_ENV[0]: self.start.isoformat() if self.start else "",
            WINDOW_ENV[1]: self.end.isoformat() if self.end else "",
        }

    def __str__(self) -> str:
        start = self.start.isoformat() if self.start else "-inf"
        end = self.end.isoformat() if self.end else "+inf"
        return f"[{start}, {end})"


def window_for(
    partitions_def: dg.DailyPartitionsDefinition,
    first_key: str,
    last_key: str,
    lookback_days: int,
    current_time=None,
) -> Window:
    """The dbt window of the partition range [first_key, last_key] (see the module doc)."""
    keys = partitions_def.get_partition_keys(current_time=current_time)
    first = date.fromisoformat(first_key) - timedelta(days=lookback_days)
    end = date.fromisoformat(last_key) + timedelta(days=1)
    return Window(
        start=None if not keys or first_key <= keys[0] else first,
        end=None if not keys or last_key >= keys[-1] else end,
    )


def run_partition_range(context: dg.AssetExecutionContext) -> dg.PartitionKeyRange | None:
    """The partition range of the run (a partition or a single-run backfill), from its tags,
    so that an unpartitioned step of a partitioned run knows it too; None without one."""
    tags = context.run.tags
    if tags.get("dagster/partition"):
        return dg.PartitionKeyRange(tags["dagster/partition"], tags["dagster/partition"])
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return dg.PartitionKeyRange(start, end) if start and end else None


def range_for_dates(
    partitions_def: dg.DailyPartitionsDefinition,
    first_day: date,
    last_day: date,
    current_time=None,
) -> dg.PartitionKeyRange | None:
    """The partitions holding [first_day, last_day], clipped to the existing ones.

    None when there is no partition yet (``start_date`` in the future).
    """
    keys = partitions_def.get_partition_keys(current_time=current_time)
    if not keys:
        return None
    first = min(max(first_day.isoformat(), keys[0]), keys[-1])
    last = min(max(last_day.isoformat(), first), keys[-1])
    return dg.PartitionKeyRange(start=first, end=last)
