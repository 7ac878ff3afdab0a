"""Reconciliation between layers: rows and money are conserved from landing to the marts.

Each reconciliation recomputes one side of a layer boundary independently (from the manifest
and the Parquet footers, or in SQL over the raw Parquet, the warehouse and the FX seed) and
compares it with what the next layer holds. Every term of the equation is computed and
reported, so a failure says *where* rows or money went:

* landing → raw + quarantine (per raw entity, per file):
  ``rows_read = raw_rows + quarantined_rows + aggregated_away + erased_rows`` with
  ``raw_rows`` and ``quarantined_rows`` from the Parquet footers of ``raw/`` and
  ``quarantine/`` (not the manifest's own numbers), ``aggregated_away`` = rows a mapping's
  ``aggregate`` folded together, ``erased_rows`` = rows ``segmart forget`` removed (its
  log ``state/erasures.jsonl``); rejected files must be in ``rejected/`` with a reason and nowhere else.
* raw → staging (per entity): ``raw_rows = staging_rows + superseded + dropped`` where
  ``superseded`` are older versions of a natural key (latest version wins) and ``dropped``
  the documented staging filters (:data:`STAGING`), plus the key sets compared both ways.
* staging → facts: ``fct_orders`` (orders, net revenue), ``fct_opportunities`` (deals, TCV)
  and ``fct_leads`` (leads) against staging converted with the dated FX rates.
* spend: ``fct_ad_spend_daily`` per platform and day against raw ``ad_spend_daily`` (latest
  versions) converted with the FX seed; ``kpi_channel_daily`` / ``kpi_channel_monthly``
  spend per channel and day / month against ``fct_ad_spend_daily``.

Money is compared in the reporting currency with a tolerance of :data:`MONEY_TOLERANCE` per
key (order, deal, platform-day, channel-day) and in total. The checks are blocking: a failure
has ERROR severity and stops everything downstream (the serving publish). Failing-key samples
hold ids, dates, platforms, channels and file names only, never personal data.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq

from pipelines.core.contract import entities
from pipelines.core.locks import INGEST_LOCK, exclusive_lock
from pipelines.core.manifest import Manifest
from pipelines.core.resources import WAREHOUSE_POOL, SegmartHome
from pipelines.core.settings import HomePaths, load_config
from pipelines.quality.checks import error_result

MONEY_TOLERANCE = 0.01  # reporting currency, per key and in total
SAMPLE = 10  # failing keys listed in a check's metadata
HASH_NAME = re.compile(r"[0-9a-f]{64}")
DEFAULT_FX_RELATION = "reference.fx_rates"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Staged:
    """How a raw entity becomes its staging model: key expressions and documented drops."""

    model: str
    keys: dict[str, str]  # staging key column -> the same value computed from a raw row
    dropped: str | None = None  # SQL over the latest raw version: true = filtered out
    dropped_reason: str = ""


STAGING: dict[str, Staged] = {
    "accounts": Staged(
        "stg_crm__accounts",
        {"account_id": "trim(account_id)"},
        "coalesce(is_deleted, false)",
        "deleted in the CRM (is_deleted)",
    ),
    "contacts": Staged(
        "stg_crm__contacts",
        {"contact_id": "trim(contact_id)"},
        "coalesce(is_deleted, false)",
        "deleted in the CRM (is_deleted)",
    ),
    "leads": Staged(
        "stg_crm__leads",
        {"lead_id": "trim(lead_id)"},
        "coalesce(is_deleted, false)",
        "deleted in the CRM (is_deleted)",
    ),
    "opportunities": Staged(
        "stg_crm__opportunities",
        {"opportunity_id": "trim(opportunity_id)"},
        "coalesce(is_deleted, false)",
        "deleted in the CRM (is_deleted)",
    ),
    "orders": Staged(
        "stg_crm__orders",
        {"order_id": "trim(order_id)", "order_line_id": "trim(order_line_id)"},
    ),
    "nps_responses": Staged(
        "stg_crm__nps_responses",
        {"response_id": "trim(response_id)"},
        "not coalesce(score between 0 and 10, false)",
        "score outside 0..10",
    ),
    "events": Staged("stg_web__events", {"event_id": "trim(event_id)"}),
    "ad_spend_daily": Staged(
        "stg_ads__ad_spend_daily",
        {
            "spend_date": "spend_date",
            "period_end": "period_end",
            "platform": "lower(trim(platform))",
            "ad_account_id": "nullif(trim(ad_account_id), '')",
            "campaign_id": "trim(campaign_id)",
        },
    ),
}


@dataclass
class Reconciliation:
    """One reconciliation: ``expected`` vs ``actual``, the terms behind them, failing keys."""

    name: str
    equation: str
    expected: float
    actual: float
    terms: dict[str, float | int] = field(default_factory=dict)
    failing_count: int = 0
    failing: list[dict] = field(default_factory=list)
    tolerance: float = 0.0
    unit: str = "rows"
    notes: list[str] = field(default_factory=list)

    @property
    def difference(self) -> float:
        return self.actual - self.expected

    @property
    def passed(self) -> bool:
        return self.failing_count == 0 and abs(self.difference) <= self.tolerance


# ------------------------------------------------------------------ landing → raw + quarantine


def _footer_rows(folder: Path) -> dict[str, int]:
    """Rows per ``{sha256}.parquet`` in ``folder``, from the Parquet footers (-1: unreadable)."""
    rows = {}
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        if not HASH_NAME.fullmatch(path.stem):
            continue  # _schema.parquet
        try:
            rows[path.stem] = pq.ParquetFile(path).metadata.num_rows
        except Exception:  # a truncated or foreign file: reported, never counted
            rows[path.stem] = -1
    return rows


def _erased_rows(paths: HomePaths, entity: str) -> dict[tuple[str, str], int]:
    """{(layer, file hash): rows removed by ``segmart forget``} from state/erasures.jsonl."""
    log_path = paths.state / "erasures.jsonl"
    erased: dict[tuple[str, str], int] = {}
    for line in log_path.read_text().splitlines() if log_path.exists() else []:
        for rel, rows in json.loads(line).get("rows_removed", {}).items():
            layer, folder, name = rel.split("/", 2)
            if folder == entity:
                key = (layer, Path(name).stem)
                erased[key] = erased.get(key, 0) + int(rows)
    return erased


def landing_to_raw(paths: HomePaths, entity: str) -> Reconciliation:
    """Per file of ``entity`` in the manifest: rows read = raw + quarantined + aggregated away
    + erased (rows a documented ``segmart forget`` removed, from state/erasures.jsonl)."""
    # under the ingest lock: a concurrent ingest never shows a file half written (Parquet
    # renamed, manifest not yet); held for the footers and the manifest only
    with exclusive_lock(paths.state / INGEST_LOCK, "ingest", log):
        raw = _footer_rows(paths.raw / entity)
        quarantined = _footer_rows(paths.quarantine / entity)
        records = [r for r in Manifest(paths.manifest).records() if r.get("entity") == entity]
    loaded = {r["file_hash"]: r for r in records if r["status"] == "loaded"}
    rejected = {r["file_hash"]: r for r in records if r["status"] == "rejected"}
    erased = _erased_rows(paths, entity)
    failing: list[dict] = []

    unreadable = sorted(h for h, n in {**raw, **quarantined}.items() if n < 0)
    for file_hash in unreadable:
        failing.append({"file_hash": file_hash, "problem": "unreadable Parquet"})
    raw = {h: max(n, 0) for h, n in raw.items()}
    quarantined = {h: max(n, 0) for h, n in quarantined.items()}

    aggregated_total = erased_total = 0
    for file_hash, r in sorted(loaded.items(), key=lambda kv: kv[1]["file"]):
        raw_rows, quar_rows = raw.get(file_hash, 0), quarantined.get(file_hash, 0)
        erased_raw = erased.get(("raw", file_hash), 0)
        erased_quar = erased.get(("quarantine", file_hash), 0)
        aggregated = int(r.get("rows_loaded", 0)) - int(r.get("rows_written", r["rows_loaded"]))
        aggregated_total += aggregated
        erased_total += erased_raw + erased_quar
        accounted = raw_rows + quar_rows + aggregated + erased_raw + erased_quar
        if (
            accounted != r["rows_read"]
            or raw_rows + erased_raw != r.get("rows_written", r["rows_loaded"])
            or quar_rows + erased_quar != r["rows_quarantined"]
        ):
            failing.append(
                {
                    "file": r["file"],
                    "file_hash": file_hash[:16],
                    "rows_read": r["rows_read"],
                    "raw_rows": raw_rows,
                    "quarantined_rows": quar_rows,
                    "aggregated_away": aggregated,
                    "erased_rows": erased_raw + erased_quar,
                    "manifest_rows_written": r.get("rows_written", r["rows_loaded"]),
                    "manifest_rows_quarantined": r["rows_quarantined"],
                    "difference": accounted - r["rows_read"],
                }
            )
    for folder, found in (("raw", raw), ("quarantine", quarantined)):
        for file_hash in sorted(set(found) - set(loaded)):
            owner = rejected.get(file_hash)
            failing.append(
                {
                    "file": owner["file"] if owner else None,
                    "file_hash": file_hash[:16],
                    "problem": f"{folder} Parquet of a "
                    + ("rejected file" if owner else "file without a manifest record"),
                    "rows": found[file_hash],
                }
            )
    for file_hash, r in sorted(rejected.items()):
        copies = [
            p for p in paths.rejected.glob(f"{file_hash}__*") if not p.name.endswith(".reason.txt")
        ]
        if not copies or not copies[0].with_name(copies[0].name + ".reason.txt").exists():
            failing.append(
                {
                    "file": r["file"],
                    "file_hash": file_hash[:16],
                    "problem": "rejected file missing from rejected/ (copy or .reason.txt)",
                }
            )

    rows_read = sum(int(r["rows_read"]) for r in loaded.values())
    raw_total, quar_total = sum(raw.values()), sum(quarantined.values())
    return Reconciliation(
        name=f"landing → raw + quarantine: {entity}",
        equation="rows_read = raw_rows + quarantined_rows + aggregated_away + erased_rows "
        "(per file)",
        expected=rows_read,
        actual=raw_total + quar_total + aggregated_total + erased_total,
        terms={
            "files_loaded": len(loaded),
            "files_rejected": len(rejected),
            "rows_read": rows_read,
            "raw_rows": raw_total,
            "quarantined_rows": quar_total,
            "aggregated_away": aggregated_total,
            "erased_rows": erased_total,
        },
        failing_count=len(failing),
        failing=failing[:SAMPLE],
    )


# ------------------------------------------------------------------ SQL over raw + warehouse


def _settings(paths: HomePaths) -> tuple[dict, dict]:
    config = load_config(paths.root)
    return config.get("dbt_vars") or {}, config.get("duckdb") or {}


@contextmanager
def warehouse(paths: HomePaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """In-memory DuckDB with the warehouse attached read-only as ``wh`` (no writer lock)."""
    if not paths.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {paths.warehouse}: run dbt first")
    _, settings = _settings(paths)
    config = {}
    if settings.get("memory_limit"):
        config["memory_limit"] = str(settings["memory_limit"])
    if settings.get("threads"):
        config["threads"] = int(settings["threads"])
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH {_literal(str(paths.warehouse))} AS wh (READ_ONLY)")
        yield con
    finally:
        con.close()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _raw_glob(paths: HomePaths, entity: str) -> str:
    return f"read_parquet({_literal(str(paths.raw / entity / '*.parquet'))}, union_by_name=true)"


def _ranked_raw(paths: HomePaths, entity: str) -> str:
    """Raw rows with ``_version_rank`` (1 = the version staging keeps), as staging ranks them."""
    ent = entities()[entity]
    updated = "updated_at desc nulls last," if "updated_at" in ent.column_names else ""
    return f"""
        select *, row_number() over (
            partition by {", ".join(ent.key)}
            order by _ingested_at desc nulls last, {updated}
                _file_hash desc nulls last, _source_row desc nulls last
        ) as _version_rank
        from {_raw_glob(paths, entity)}
    """


def _fx_sql(paths: HomePaths) -> tuple[str, str]:
    """(CTE ``rates`` from the FX seed, reporting currency), as documented for the marts."""
    dbt_vars, _ = _settings(paths)
    relation = dbt_vars.get("fx_rates_relation") or DEFAULT_FX_RELATION
    reporting = str(dbt_vars.get("reporting_currency") or "USD").upper()
    rates = f"""
        rates as (
            select cast(rate_date as date) as rate_date, upper(trim(currency)) as currency_code,
                cast(rate_to_usd as double) as rate_to_usd
            from wh.{relation}
            where rate_to_usd > 0
        ),
        reporting_rates as (
            select rate_date, rate_to_usd from rates where currency_code = {_literal(reporting)}
        )
    """
    return rates, reporting


def _converted(source: str, date_col: str, currency_col: str, reporting: str) -> str:
    """``source`` plus ``fx_rate`` to the reporting currency: the latest rate on or before the
    date (rates hold until the next one); 1 for the reporting currency or no currency."""
    rep = _literal(reporting)
    return f"""
        select s.*,
            case when s.{currency_col} is null or s.{currency_col} = {rep} then 1.0
                else c.rate_to_usd / r.rate_to_usd end as fx_rate
        from ({source}) as s
        asof left join rates as c
            on s.{currency_col} = c.currency_code and s.{date_col} >= c.rate_date
        asof left join reporting_rates as r
            on s.{date_col} >= r.rate_date
    """


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    return _fetch(con, sql)[0]


def _jsonable(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        clean = {}
        for k, v in row.items():
            if isinstance(v, float):
                v = round(v, 6)
            elif v is not None and not isinstance(v, (int, str, bool)):
                v = str(v)
            clean[k] = v
        out.append(clean)
    return out


def _key_diff(con, expected_sql: str, actual_sql: str, keys: list[str]) -> tuple[int, list[dict]]:
    """Keys (with multiplicity) in one side and not the other: (count, sample).

    Each side is counted per key and the counts joined (a hash aggregate and one hash join,
    several times cheaper than ``except all`` both ways on whole tables); the count is the
    sum of the differences, i.e. the rows ``except all`` both ways would give.
    """
    cols = ", ".join(keys)
    picked = ", ".join(f"coalesce(e.{k}, a.{k}) as {k}" for k in keys)
    same = " and ".join(f"e.{k} is not distinct from a.{k}" for k in keys)
    sql = f"""
        with expected as (select {cols}, count(*) as _n from ({expected_sql}) group by all),
        actual as (select {cols}, count(*) as _n from ({actual_sql}) group by all)
        select
            case when coalesce(e._n, 0) > coalesce(a._n, 0) then 'missing in the model'
                else 'not expected (extra or duplicated)' end as problem,
            {picked},
            abs(coalesce(e._n, 0) - coalesce(a._n, 0)) as _rows
        from expected as e
        full join actual as a on {same}
        where coalesce(e._n, 0) <> coalesce(a._n, 0)
    """
    # computed once (both sides can be whole tables): counted and sampled from a temp table
    con.execute(f"create or replace temp table _key_diff as {sql}")
    rows = _fetch(con, "select coalesce(sum(_rows), 0) as n from _key_diff")
    sample = _fetch(con, f"select * exclude (_rows) from _key_diff order by all limit {SAMPLE}")
    con.execute("drop table _key_diff")
    return int(rows[0]["n"]), _jsonable(sample)


def raw_to_staging(paths: HomePaths, entity: str) -> Reconciliation:
    """raw rows = staging rows + superseded versions + documented drops (keys compared too)."""
    staged = STAGING[entity]
    keys = ", ".join(f"{expr} as {name}" for name, expr in staged.keys.items())
    key_cols = ", ".join(staged.keys)
    with warehouse(paths) as con:
        # only what the equation and the key comparison read, computed once
        if staged.dropped:
            # the latest version decides whether a key is dropped: rank the versions
            con.execute(
                f"""
                create temp table ranked as
                select _version_rank, coalesce(({staged.dropped}), false) as _dropped, {keys}
                from ({_ranked_raw(paths, entity)})
                """
            )
            terms = _one(
                con,
                """
                select
                    count(*) as raw_rows,
                    count(*) filter (where _version_rank > 1) as superseded_versions,
                    count(*) filter (where _version_rank = 1 and _dropped) as dropped_by_filter
                from ranked
                """,
            )
            kept = f"select {key_cols} from ranked where _version_rank = 1 and not _dropped"
        else:
            # nothing reads the latest version: counting each key's versions is enough, and a
            # hash aggregate is far cheaper than a window sorting every raw row (null keys
            # are one group, as they are one window partition)
            con.execute(
                f"""
                create temp table versions as
                select {keys}, count(*) as _versions
                from {_raw_glob(paths, entity)}
                group by all
                """
            )
            terms = _one(
                con,
                """
                select
                    coalesce(sum(_versions), 0) as raw_rows,
                    coalesce(sum(_versions - 1), 0) as superseded_versions,
                    0 as dropped_by_filter
                from versions
                """,
            )
            kept = f"select {key_cols} from versions"
        staging_sql = f"select count(*) as n from wh.staging.{staged.model}"
        terms["staging_rows"] = _one(con, staging_sql)["n"]
        failing_count, failing = _key_diff(
            con,
            kept,
            f"select {key_cols} from wh.staging.{staged.model}",
            list(staged.keys),
        )
    terms = {k: int(v) for k, v in terms.items()}
    expected = terms["raw_rows"] - terms["superseded_versions"] - terms["dropped_by_filter"]
    notes = ["superseded: older versions of a natural key (latest _ingested_at wins)"]
    if staged.dropped:
        notes.append(f"dropped by filter: {staged.dropped_reason}")
    return Reconciliation(
        name=f"raw → staging: {entity} → {staged.model}",
        equation="staging_rows = raw_rows - superseded_versions - dropped_by_filter",
        expected=expected,
        actual=terms["staging_rows"],
        terms=terms,
        failing_count=failing_count,
        failing=failing,
        notes=notes,
    )


# ------------------------------------------------------------------ staging → facts


def _money_by_key(
    con, expected_sql: str, actual_sql: str, keys: list[str]
) -> tuple[dict, int, list[dict]]:
    """Compare ``amount`` per key of two queries: (totals, failing count, failing sample).

    A key fails when its amounts (0 when on one side only) differ by more than the tolerance,
    or when an expected amount could not be converted (no FX rate: the money would be lost).
    Row counts are reconciled separately.
    """
    on = " and ".join(f"e.{k} is not distinct from a.{k}" for k in keys)
    cols = ", ".join(f"coalesce(e.{k}, a.{k}) as {k}" for k in keys)
    joined = f"""
        with e as (select *, true as _present from ({expected_sql})),
        a as (select *, true as _present from ({actual_sql})),
        j as (
            select {cols}, e.amount as expected, a.amount as actual,
                coalesce(e.unconverted, 0) as unconverted,
                e._present is null as only_actual, a._present is null as only_expected
            from e full outer join a on {on}
        )
        select *,
            coalesce(actual, 0) - coalesce(expected, 0) as difference,
            case
                when unconverted > 0 then 'no FX rate for the date and currency'
                when abs(coalesce(actual, 0) - coalesce(expected, 0)) <= {MONEY_TOLERANCE}
                    then null
                when only_expected then 'missing in the model'
                when only_actual then 'not expected'
                else 'amount differs'
            end as problem
        from j
    """
    con.execute(f"create or replace temp table compared as {joined}")
    totals = _one(
        con,
        """
        select coalesce(sum(expected), 0) as expected, coalesce(sum(actual), 0) as actual,
            coalesce(sum(unconverted), 0) as unconverted, count(*) as keys
        from compared
        """,
    )
    failing_count = _one(con, "select count(*) as n from compared where problem is not null")["n"]
    sample = _fetch(
        con,
        f"""
        select {", ".join(keys)}, problem, expected, actual, difference from compared
        where problem is not null
        order by abs(difference) desc, {", ".join(keys)} limit {SAMPLE}
        """,
    )
    return totals, int(failing_count), _jsonable(sample)


def _money_reconciliation(name, equation, totals, failing_count, failing, terms, reporting):
    terms = {**terms, "keys_compared": int(totals["keys"])}
    if totals["unconverted"]:
        terms["rows_without_fx_rate"] = int(totals["unconverted"])
    return Reconciliation(
        name=name,
        equation=equation,
        expected=float(totals["expected"]),
        actual=float(totals["actual"]),
        terms=terms,
        failing_count=failing_count,
        failing=failing,
        tolerance=MONEY_TOLERANCE,
        unit=reporting,
    )


def orders_to_fct(paths: HomePaths) -> Reconciliation:
    """fct_orders: one row per staging order; net revenue = Σ staging net_amount × FX."""
    rates, reporting = _fx_sql(paths)
    with warehouse(paths) as con:
        lines = _converted(
            "select order_id, net_amount, currency_code, cast(ordered_at as date) as d "
            "from wh.staging.stg_crm__orders",
            "d",
            "currency_code",
            reporting,
        )
        con.execute(f"create temp table lines as with {rates} {lines}")
        counts = _one(
            con,
            """
            select (select count(*) from lines) as staging_lines,
                (select count(distinct order_id) from lines) as staging_orders,
                (select count(*) from wh.marts.fct_orders) as fct_orders
            """,
        )
        totals, failing_count, failing = _money_by_key(
            con,
            """
            select order_id, sum(net_amount * fx_rate) as amount,
                count(*) filter (where net_amount is not null and fx_rate is null) as unconverted
            from lines group by order_id
            """,
            "select order_id, sum(net_revenue) as amount from wh.marts.fct_orders group by all",
            ["order_id"],
        )
    result = _money_reconciliation(
        "staging → fct_orders: net revenue",
        "Σ fct_orders.net_revenue = Σ stg_crm__orders.net_amount × FX(order date), per order",
        totals,
        failing_count,
        failing,
        {k: int(v) for k, v in counts.items()},
        reporting,
    )
    if counts["fct_orders"] != counts["staging_orders"]:
        result.failing_count += 1
        result.failing.insert(0, {"problem": "order count differs", **counts})
    return result


def opportunities_to_fct(paths: HomePaths) -> Reconciliation:
    """fct_opportunities: one row per staging deal; TCV = Σ amount × FX(close, else create)."""
    rates, reporting = _fx_sql(paths)
    with warehouse(paths) as con:
        deals = _converted(
            "select opportunity_id, amount, currency_code, "
            "cast(coalesce(closed_at, created_at) as date) as d "
            "from wh.staging.stg_crm__opportunities",
            "d",
            "currency_code",
            reporting,
        )
        con.execute(f"create temp table deals as with {rates} {deals}")
        counts = _one(
            con,
            """
            select (select count(*) from deals) as staging_opportunities,
                (select count(*) from wh.marts.fct_opportunities) as fct_opportunities
            """,
        )
        totals, failing_count, failing = _money_by_key(
            con,
            """
            select opportunity_id, sum(amount * fx_rate) as amount,
                count(*) filter (where amount is not null and fx_rate is null) as unconverted
            from deals group by opportunity_id
            """,
            "select opportunity_id, sum(tcv) as amount from wh.marts.fct_opportunities "
            "group by all",
            ["opportunity_id"],
        )
    result = _money_reconciliation(
        "staging → fct_opportunities: TCV",
        "Σ fct_opportunities.tcv = Σ stg_crm__opportunities.amount × FX(close or create date)",
        totals,
        failing_count,
        failing,
        {k: int(v) for k, v in counts.items()},
        reporting,
    )
    if counts["fct_opportunities"] != counts["staging_opportunities"]:
        result.failing_count += 1
        result.failing.insert(0, {"problem": "opportunity count differs", **counts})
    return result


def leads_to_fct(paths: HomePaths) -> Reconciliation:
    """fct_leads: exactly the staging leads, each once."""
    with warehouse(paths) as con:
        staging = _one(con, "select count(*) as n from wh.staging.stg_crm__leads")["n"]
        fct = _one(con, "select count(*) as n from wh.marts.fct_leads")["n"]
        failing_count, failing = _key_diff(
            con,
            "select lead_id from wh.staging.stg_crm__leads",
            "select lead_id from wh.marts.fct_leads",
            ["lead_id"],
        )
    return Reconciliation(
        name="staging → fct_leads: leads",
        equation="fct_leads rows = stg_crm__leads rows (same lead_id set, each once)",
        expected=int(staging),
        actual=int(fct),
        terms={"staging_leads": int(staging), "fct_leads": int(fct)},
        failing_count=failing_count,
        failing=failing,
    )


# ------------------------------------------------------------------ spend


def spend_raw_to_fct(paths: HomePaths) -> Reconciliation:
    """fct_ad_spend_daily spend per platform and day = raw spend (latest versions) × FX."""
    rates, reporting = _fx_sql(paths)
    with warehouse(paths) as con:
        con.execute(f"create temp view ranked as {_ranked_raw(paths, 'ad_spend_daily')}")
        latest = _converted(
            _spend_days(),
            "spend_date",
            "currency_code",
            reporting,
        )
        con.execute(f"create temp table spend as with {rates} {latest}")
        counts = _one(
            con,
            """
            select (select count(*) from ranked) as raw_rows,
                (select count(*) from ranked where _version_rank > 1) as superseded_versions,
                (select count(*) from spend) as latest_rows,
                (select count(*) from wh.marts.fct_ad_spend_daily) as fct_rows
            """,
        )
        totals, failing_count, failing = _money_by_key(
            con,
            """
            select platform, spend_date, sum(spend * fx_rate) as amount,
                count(*) filter (where spend is not null and fx_rate is null) as unconverted
            from spend group by all
            """,
            "select platform, spend_date, sum(spend) as amount "
            "from wh.marts.fct_ad_spend_daily group by all",
            ["platform", "spend_date"],
        )
    result = _money_reconciliation(
        "raw → fct_ad_spend_daily: spend per platform and day",
        "Σ fct_ad_spend_daily.spend = Σ raw spend (latest version) × FX(spend date), "
        "per platform and day",
        totals,
        failing_count,
        failing,
        {k: int(v) for k, v in counts.items()},
        reporting,
    )
    if counts["fct_rows"] != counts["latest_rows"]:
        result.failing_count += 1
        result.failing.insert(0, {"problem": "row count differs", **counts})
    return result


def _spend_days() -> str:
    """Latest raw spend per day: a period-grain row (a UI report without a Day column,
    spend_date .. period_end) spread over its days as documented in int_ad_spend_prorated
    (day i of n: round(spend·i/n, 2) − round(spend·(i−1)/n, 2)); per campaign and day the
    finest grain wins (a daily row, then the shorter period, then the newer download)."""
    return """
        with latest as (
            select lower(trim(platform)) as platform, nullif(trim(ad_account_id), '') as account,
                trim(campaign_id) as campaign_id, spend_date as first_day, period_start,
                case when period_end > spend_date then period_end else spend_date end as last_day,
                _ingested_at, spend, upper(trim(currency)) as currency_code
            from ranked where _version_rank = 1
        ),
        days as (
            select *, cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date)
                as spend_date, date_diff('day', first_day, last_day) + 1 as n
            from latest
        ),
        shares as (
            select *, date_diff('day', first_day, spend_date) + 1 as i,
                row_number() over (partition by spend_date, platform, account, campaign_id
                    order by n, _ingested_at desc, period_start desc) as day_rank
            from days
        )
        select platform, spend_date, currency_code,
            case when n = 1 then spend
                else round(spend * i / n, 2) - round(spend * (i - 1) / n, 2) end as spend
        from shares where day_rank = 1
    """


KPI_GRAIN = {
    "kpi_channel_daily": ("date_day", "spend_date"),
    "kpi_channel_monthly": ("month_start", "spend_month"),
}


def spend_fct_to_kpi(paths: HomePaths, kpi: str) -> Reconciliation:
    """``kpi`` spend per channel and period = fct_ad_spend_daily spend summed the same way."""
    period, fct_period = KPI_GRAIN[kpi]
    _, reporting = _fx_sql(paths)
    with warehouse(paths) as con:
        totals, failing_count, failing = _money_by_key(
            con,
            f"""
            select cast({fct_period} as date) as period, channel, sum(spend) as amount,
                count(*) filter (where spend is null) as unconverted
            from wh.marts.fct_ad_spend_daily group by all
            """,
            f"""
            select cast({period} as date) as period, channel, sum(spend) as amount
            from wh.marts.{kpi} group by all
            """,
            ["period", "channel"],
        )
    return _money_reconciliation(
        f"fct_ad_spend_daily → {kpi}: spend per channel",
        f"Σ {kpi}.spend = Σ fct_ad_spend_daily.spend, per channel and {period}",
        totals,
        failing_count,
        failing,
        {},
        reporting,
    )


# ------------------------------------------------------------------ Dagster checks


def check_result(rec: Reconciliation) -> dg.AssetCheckResult:
    """Pass/fail (ERROR when failing, so it blocks) with expected, actual, terms, failing keys."""
    number = dg.MetadataValue.int if rec.unit == "rows" else dg.MetadataValue.float
    cast = int if rec.unit == "rows" else float
    metadata = {
        "reconciliation": rec.name,
        "equation": rec.equation,
        "unit": rec.unit,
        "expected": number(cast(rec.expected)),
        "actual": number(cast(rec.actual)),
        "difference": number(cast(rec.difference)),
        "tolerance": dg.MetadataValue.float(rec.tolerance),
        "terms": dg.MetadataValue.json(rec.terms),
        "failing_count": dg.MetadataValue.int(rec.failing_count),
        "failing_keys_sample": dg.MetadataValue.json(rec.failing),
        "summary": dg.MetadataValue.md(_markdown(rec)),
    }
    if rec.notes:
        metadata["notes"] = "; ".join(rec.notes)
    return dg.AssetCheckResult(
        passed=rec.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=_description(rec),
    )


def _fmt(value: float, unit: str) -> str:
    return f"{int(value):,}" if unit == "rows" else f"{value:,.2f} {unit}"


def _description(rec: Reconciliation) -> str:
    head = (
        f"{rec.name}: expected {_fmt(rec.expected, rec.unit)}, actual {_fmt(rec.actual, rec.unit)}"
    )
    if rec.passed:
        return f"{head} — conserved"
    return (
        f"{head}, difference {_fmt(rec.difference, rec.unit)}; "
        f"{rec.failing_count} failing key(s) — see failing_keys_sample"
    )


def _markdown(rec: Reconciliation) -> str:
    lines = [f"**{rec.name}** — {'conserved' if rec.passed else '**NOT conserved**'}", ""]
    lines += [f"`{rec.equation}`", "", "| term | value |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in rec.terms.items()]
    lines += [
        f"| expected | {_fmt(rec.expected, rec.unit)} |",
        f"| actual | {_fmt(rec.actual, rec.unit)} |",
        f"| difference | {_fmt(rec.difference, rec.unit)} |",
    ]
    if rec.failing:
        cols = list(dict.fromkeys(k for row in rec.failing for k in row))
        lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in rec.failing:
            lines.append("| " + " | ".join(str(row.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def _build(asset: dg.AssetKey, name: str, description: str, compute, *, pool: str | None):
    @dg.asset_check(
        asset=asset,
        name=name,
        description=description,
        blocking=True,
        pool=pool,
        metadata={"kind": "reconciliation"},
    )
    def _check(segmart: SegmartHome) -> dg.AssetCheckResult:
        try:
            rec = compute(segmart.paths)
        except (FileNotFoundError, ValueError, KeyError, duckdb.Error, OSError) as exc:
            return error_result(exc, "reconcile", "reconciliation", name)
        return check_result(rec)

    return _check


def reconcile_checks() -> list[dg.AssetChecksDefinition]:
    """Every reconciliation as a blocking asset check on the asset whose output it verifies.

    The checks never read a partition: they reconcile whole tables, so they work the same on
    partitioned and unpartitioned assets.
    """
    checks = []
    for name, ent in sorted(entities().items()):
        checks.append(
            _build(
                dg.AssetKey(ent.asset_key),
                "reconcile_landing_to_raw",
                f"Every landed {name} file: rows read = raw + quarantined rows (Parquet "
                "footers) + rows aggregated away; rejected files only in rejected/",
                lambda paths, entity=name: landing_to_raw(paths, entity),
                pool=None,
            )
        )
    for name, staged in sorted(STAGING.items()):
        if name not in entities():
            continue
        checks.append(
            _build(
                dg.AssetKey(staged.model),
                "reconcile_raw_to_staging",
                f"raw {name} rows = {staged.model} rows + superseded versions + documented "
                "drops, and the same natural keys",
                lambda paths, entity=name: raw_to_staging(paths, entity),
                pool=WAREHOUSE_POOL,
            )
        )
    facts = [
        ("fct_orders", "reconcile_staging_to_fct", "orders and net revenue (FX)", orders_to_fct),
        ("fct_opportunities", "reconcile_staging_to_fct", "deals and TCV", opportunities_to_fct),
        ("fct_leads", "reconcile_staging_to_fct", "leads", leads_to_fct),
        (
            "fct_ad_spend_daily",
            "reconcile_spend_raw_to_fct",
            "spend per platform and day = raw spend × FX seed",
            spend_raw_to_fct,
        ),
    ]
    for model, check_name, what, compute in facts:
        checks.append(
            _build(
                dg.AssetKey(model),
                check_name,
                f"{model} reconciles with the layer below: {what}",
                compute,
                pool=WAREHOUSE_POOL,
            )
        )
    for kpi in KPI_GRAIN:
        checks.append(
            _build(
                dg.AssetKey(kpi),
                "reconcile_spend_fct_to_kpi",
                f"{kpi} spend per channel = fct_ad_spend_daily spend (no spend lost)",
                lambda paths, kpi=kpi: spend_fct_to_kpi(paths, kpi),
                pool=WAREHOUSE_POOL,
            )
        )
    return checks


def reconciled_staging_keys() -> list[dg.AssetKey]:
    """The staging models with a reconciliation: the serving publish waits for their checks."""
    return [dg.AssetKey(staged.model) for _, staged in sorted(STAGING.items())]


RECONCILIATIONS = {
    "landing_to_raw": landing_to_raw,
    "raw_to_staging": raw_to_staging,
    "orders_to_fct": orders_to_fct,
    "opportunities_to_fct": opportunities_to_fct,
    "leads_to_fct": leads_to_fct,
    "spend_raw_to_fct": spend_raw_to_fct,
    "spend_fct_to_kpi": spend_fct_to_kpi,
}
