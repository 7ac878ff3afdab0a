"""Journeys out of the DuckDB warehouse, aggregated; the credits written back to ``ml``.

The journeys are built with the rules of ``fct_attribution`` (dbt): a conversion's path is
the touchpoints of its person (for a won deal also of every person of its account) from
``window_start_at`` to ``converted_at``, ordered by time then touchpoint id. A person's
touchpoints that are on no path of a conversion type form that person's one non-converting
journey of that type. Each conversion type (order, won_deal, lead) is its own graph.
The journeys come out of DuckDB as one sorted frame; transition counts and channel sets are
computed from it with numpy (pipelines/attribution/journeys.py), never journey by journey.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.attribution.journeys import Journeys
from pipelines.core.signatures import query_fingerprint, record_signature

ML_SCHEMA = "ml"
CREDITS_TABLE = "attribution_channel_credits"
MARTS = ("marts.fct_conversions", "marts.fct_touchpoints")


def connect(warehouse: Path, settings: dict | None = None) -> duckdb.DuckDBPyConnection:
    """The warehouse with the ``duckdb:`` settings of the configuration that apply here."""
    config = {k: v for k, v in (settings or {}).items() if k in ("memory_limit", "threads") and v}
    return duckdb.connect(str(warehouse), config={k: str(v) for k, v in config.items()})


class MissingMartError(RuntimeError):
    """fct_conversions / fct_touchpoints are not in the warehouse yet (build dbt first)."""


# exactly what the journeys read of the two marts (also fingerprinted: input_fingerprints)
CONVERSIONS_SQL = """
    select conversion_key, conversion_type, person_key, account_id, converted_at,
        window_start_at
    from marts.fct_conversions
"""
TOUCHPOINTS_SQL = """
    select touchpoint_id, person_key, account_id, touched_at, channel
    from marts.fct_touchpoints
"""

JOURNEYS_SQL = f"""
create or replace temp table attribution_journeys as
with
conversions as ({CONVERSIONS_SQL}),
touchpoints as ({TOUCHPOINTS_SQL}),
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
    select conversion_types.conversion_type, 'none:' || touchpoints.person_key as journey_key,
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
select * from journeys
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


TOUCHES_SQL = """
with
touches as (
    select conversion_type, hash(journey_key) as journey_hash, is_conversion,
        coalesce(channel, 'Unassigned') as channel, touched_at, touchpoint_id
    from attribution_journeys
),
channel_ids as (
    select channel, cast(row_number() over (order by channel) - 1 as integer) as channel_id
    from (select distinct channel from touches) as channels
),
type_ids as (
    select conversion_type,
        cast(row_number() over (order by conversion_type) - 1 as integer) as type_id
    from (select distinct conversion_type from touches) as types
)
select type_ids.type_id, touches.journey_hash, touches.is_conversion, channel_ids.channel_id
from touches
inner join channel_ids on touches.channel = channel_ids.channel
inner join type_ids on touches.conversion_type = type_ids.conversion_type
order by type_ids.type_id, touches.journey_hash, touches.touched_at, touches.touchpoint_id
"""


def input_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """What read_journeys reads of the marts, fingerprinted (pipelines/core/signatures.py)."""
    missing = _missing_marts(con)
    if missing:
        raise MissingMartError(
            f"{', '.join(missing)} not in the warehouse: build the dbt models before attribution"
        )
    return {
        "marts.fct_conversions": query_fingerprint(con, CONVERSIONS_SQL),
        "marts.fct_touchpoints": query_fingerprint(con, TOUCHPOINTS_SQL),
    }


class HashCollisionError(RuntimeError):
    """Two journeys of one conversion type share a hash (about 1 in 10^8 at 10^5 journeys)."""


def read_journeys(con: duckdb.DuckDBPyConnection) -> dict[str, Journeys]:
    """{conversion_type: Journeys}: every journey's touches in the order fct_attribution ranks
    them (time, then touchpoint id). Journeys are grouped by a 64-bit hash of their key (an
    integer sort, ~3x faster than sorting the keys); a collision is detected and raises."""
    missing = _missing_marts(con)
    if missing:
        raise MissingMartError(
            f"{', '.join(missing)} not in the warehouse: build the dbt models before attribution"
        )
    con.execute(JOURNEYS_SQL)
    touches = con.execute(TOUCHES_SQL).fetchnumpy()
    channels = [r[0] for r in con.execute(
        "select distinct coalesce(channel, 'Unassigned') from attribution_journeys order by 1"
    ).fetchall()]  # fmt: skip
    types = [r[0] for r in con.execute(
        "select distinct conversion_type from attribution_journeys order by 1"
    ).fetchall()]  # fmt: skip
    converting = con.execute(
        "select conversion_type, hash(journey_key) as journey_hash, journey_key "
        "from attribution_journeys where is_conversion "
        "group by conversion_type, journey_key order by conversion_type, journey_hash"
    ).df()
    if converting.duplicated(["conversion_type", "journey_hash"]).any():
        raise HashCollisionError("two conversions share a journey hash; rerun cannot help")
    type_id = np.asarray(touches["type_id"])
    journey_hash = np.asarray(touches["journey_hash"])
    is_conversion = np.asarray(touches["is_conversion"], dtype=bool)
    channel_id = np.asarray(touches["channel_id"], dtype=np.int64)
    out = {}
    for index, conversion_type in enumerate(types):
        rows = np.flatnonzero(type_id == index)
        hashes = journey_hash[rows]
        first = np.r_[True, hashes[1:] != hashes[:-1]] if len(rows) else np.zeros(0, bool)
        journey = np.cumsum(first) - 1
        converted = is_conversion[rows][first]
        starts = np.flatnonzero(first)
        flags = is_conversion[rows]
        mixed = np.bitwise_or.reduceat(flags, starts) != np.bitwise_and.reduceat(flags, starts)
        if len(rows) and mixed.any():
            raise HashCollisionError(f"{conversion_type}: a converting and a non-converting "
                                     "journey share a hash")  # fmt: skip
        used = np.unique(channel_id[rows])
        remap = np.full(len(channels), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        keys = np.full(len(converted), None, dtype=object)
        kind = converting[converting["conversion_type"] == conversion_type]
        keys[converted] = kind["journey_key"].to_numpy(dtype=object)
        out[str(conversion_type)] = Journeys(
            journey=journey.astype(np.int64),
            channel=remap[channel_id[rows]],
            converted=converted,
            keys=keys,
            channels=tuple(channels[i] for i in used),
        )
    return out


def write_credits(
    con: duckdb.DuckDBPyConnection,
    credits: pd.DataFrame,
    signature: tuple[str, str] | None = None,
) -> tuple[str, int]:
    """Replace ``ml.attribution_channel_credits`` with ``credits`` (conversion_key,
    conversion_type, attribution_model, channel, channel_credit) in one transaction, with the
    (step, signature) of their inputs recorded in it."""
    relation = f"{ML_SCHEMA}.{CREDITS_TABLE}"
    con.register("attribution_credits", credits)
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {ML_SCHEMA}")
        con.execute(
            f"create or replace table {relation} as select "
            "cast(conversion_key as varchar) as conversion_key, "
            "cast(conversion_type as varchar) as conversion_type, "
            "cast(attribution_model as varchar) as attribution_model, "
            "cast(channel as varchar) as channel, "
            "cast(channel_credit as double) as channel_credit "
            "from attribution_credits "
            "order by conversion_key, attribution_model, channel"
        )
        rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
        if signature is not None:
            record_signature(con, ML_SCHEMA, *signature)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("attribution_credits")
    return relation, rows
