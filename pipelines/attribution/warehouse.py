"""Journeys out of the DuckDB warehouse, aggregated; the credits written back to ``ml``.

The journeys are built with the rules of ``fct_attribution`` (dbt): a conversion's path is
the touchpoints of its person (for a won deal also of every person of its account) from
``window_start_at`` to ``converted_at``, ordered by time then touchpoint id. A person's
touchpoints that are on no path of a conversion type form that person's one non-converting
journey of that type. Each conversion type (order, won_deal, lead) is its own graph.
All of it is aggregated in SQL: Python sees one row per distinct path and per distinct
channel set, never one per journey.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from pipelines.attribution.markov import SEP

ML_SCHEMA = "ml"
CREDITS_TABLE = "attribution_channel_credits"
MARTS = ("marts.fct_conversions", "marts.fct_touchpoints")


def connect(warehouse: Path, settings: dict | None = None) -> duckdb.DuckDBPyConnection:
    """The warehouse with the ``duckdb:`` settings of the configuration that apply here."""
    config = {k: v for k, v in (settings or {}).items() if k in ("memory_limit", "threads") and v}
    return duckdb.connect(str(warehouse), config={k: str(v) for k, v in config.items()})


class MissingMartError(RuntimeError):
    """fct_conversions / fct_touchpoints are not in the warehouse yet (build dbt first)."""


JOURNEYS_SQL = f"""
create or replace temp table attribution_journeys as
with
conversions as (
    select conversion_key, conversion_type, person_key, account_id, converted_at,
        window_start_at
    from marts.fct_conversions
),
touchpoints as (
    select touchpoint_id, person_key, account_id, touched_at, channel
    from marts.fct_touchpoints
),
matches as (
    select conversions.conversion_key, touchpoints.touchpoint_id
    from conversions
    inner join touchpoints
        on conversions.person_key = touchpoints.person_key
        and touchpoints.touched_at <= conversions.converted_at
        and touchpoints.touched_at >= conversions.window_start_at
    union
    select conversions.conversion_key, touchpoints.touchpoint_id
    from conversions
    inner join touchpoints
        on conversions.account_id = touchpoints.account_id
        and touchpoints.touched_at <= conversions.converted_at
        and touchpoints.touched_at >= conversions.window_start_at
    where conversions.conversion_type = 'won_deal'
),
converting as (
    select conversions.conversion_type, matches.conversion_key as journey_key,
        true as is_conversion, touchpoints.touchpoint_id, touchpoints.touched_at,
        touchpoints.channel
    from matches
    inner join touchpoints on matches.touchpoint_id = touchpoints.touchpoint_id
    inner join conversions on matches.conversion_key = conversions.conversion_key
),
conversion_types as (select distinct conversion_type from conversions),
used as (select distinct conversion_type, touchpoint_id from converting),
non_converting as (
    select conversion_types.conversion_type, touchpoints.person_key as journey_key,
        false as is_conversion, touchpoints.touchpoint_id, touchpoints.touched_at,
        touchpoints.channel
    from touchpoints
    cross join conversion_types
    where touchpoints.person_key is not null
        and not exists (
            select 1 from used
            where used.conversion_type = conversion_types.conversion_type
                and used.touchpoint_id = touchpoints.touchpoint_id
        )
),
journeys as (
    select * from converting
    union all
    select * from non_converting
)
select
    conversion_type,
    journey_key,
    is_conversion,
    string_agg(coalesce(channel, 'Unassigned'), '{SEP}' order by touched_at, touchpoint_id)
        as path_key,
    array_to_string(list_sort(list_distinct(list(coalesce(channel, 'Unassigned')))), '{SEP}')
        as set_key
from journeys
group by conversion_type, journey_key, is_conversion
"""


def _missing_marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    missing = []
    for relation in MARTS:
        schema, name = relation.split(".")
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
        if not found:
            missing.append(relation)
    return missing


def read_journeys(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(paths, sets) aggregated per conversion type.

    paths: conversion_type, path_key, conversions, nulls (one row per distinct path).
    sets: conversion_type, set_key, conversions, journeys (one row per distinct channel set).
    """
    missing = _missing_marts(con)
    if missing:
        raise MissingMartError(
            f"{', '.join(missing)} not in the warehouse: build the dbt models before attribution"
        )
    con.execute(JOURNEYS_SQL)
    paths = con.execute(
        "select conversion_type, path_key, count(*) filter (where is_conversion) as conversions, "
        "count(*) filter (where not is_conversion) as nulls "
        "from attribution_journeys group by conversion_type, path_key "
        "order by conversion_type, path_key"
    ).df()
    sets = con.execute(
        "select conversion_type, set_key, count(*) filter (where is_conversion) as conversions, "
        "count(*) as journeys from attribution_journeys group by conversion_type, set_key "
        "order by conversion_type, set_key"
    ).df()
    return paths, sets


def write_credits(con: duckdb.DuckDBPyConnection, shares: pd.DataFrame) -> tuple[str, int]:
    """Replace ``ml.attribution_channel_credits`` with one row per converting journey, model
    and distinct channel of its path: ``shares`` (conversion_type, set_key, attribution_model,
    channel, share) joined to the journeys of the temp table ``attribution_journeys``."""
    relation = f"{ML_SCHEMA}.{CREDITS_TABLE}"
    con.register("attribution_shares", shares)
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {ML_SCHEMA}")
        con.execute(
            f"create or replace table {relation} as select "
            "cast(journeys.journey_key as varchar) as conversion_key, "
            "cast(journeys.conversion_type as varchar) as conversion_type, "
            "cast(shares.attribution_model as varchar) as attribution_model, "
            "cast(shares.channel as varchar) as channel, "
            "cast(shares.share as double) as channel_credit "
            "from attribution_journeys as journeys "
            "inner join attribution_shares as shares "
            "on journeys.conversion_type = shares.conversion_type "
            "and journeys.set_key = shares.set_key "
            "where journeys.is_conversion "
            "order by conversion_key, attribution_model, channel"
        )
        rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("attribution_shares")
    return relation, rows
