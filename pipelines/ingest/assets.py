"""Dagster: one raw asset per canonical entity (one multi-asset) and the landing sensor."""

import hashlib
import json
import time

import dagster as dg
import duckdb
import pyarrow.parquet as pq
from dagster import AssetExecutionContext, SensorEvaluationContext  # real types: no PEP 563

from pipelines.core.contract import Entity, entities
from pipelines.core.manifest import Manifest
from pipelines.core.resources import SegmartHome
from pipelines.ingest.loader import (
    FileResult,
    IngestReport,
    landing_files,
    needs_another_look,
    rematch_needed,
    run_ingest,
)
from pipelines.ingest.mapping import load_mapping_set

GROUPS = {"crm": "raw_crm", "web": "raw_web", "ads": "raw_ads"}
DESCRIPTIONS = {
    "accounts": "CRM companies (HubSpot, Salesforce, Maven CRM, ...).",
    "contacts": "CRM contacts / people.",
    "leads": "CRM leads with UTM fields and funnel dates (MQL, SQL, converted).",
    "opportunities": "CRM deals / opportunities with stage, amount and contract dates.",
    "orders": "Order lines (Shopify, Online Retail II, ...), returns as negative lines.",
    "nps_responses": "NPS survey responses (score 0..10).",
    "events": "Web analytics events (GA4 BigQuery export, flat event CSVs) with UTMs.",
    "ad_spend_daily": "Daily spend, impressions and clicks per ad platform and campaign.",
}


def _spec(ent: Entity) -> dg.AssetSpec:
    key = ", ".join(ent.key)
    return dg.AssetSpec(
        key=dg.AssetKey(ent.asset_key),
        group_name=GROUPS[ent.source],
        kinds={"python", "parquet"},
        description=(
            f"Raw {ent.name}: {DESCRIPTIONS.get(ent.name, '')} Typed, append-only Parquet "
            f"(raw/{ent.name}/<sha256>.parquet) with lineage columns; natural key ({key}), "
            "latest version wins in dbt staging. Bad rows in quarantine/."
        ),
        metadata={
            "segmart/entity": ent.name,
            "segmart/drift_policy": ent.drift,
            "segmart/dated_by": ent.dated_by or "-",
        },
        skippable=True,
    )


def raw_row_count(home, entity_name: str) -> int:
    """Rows in the raw layer of an entity (from Parquet footers, without reading data)."""
    folder = home.raw / entity_name
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("[0-9a-f]*.parquet"))


def rows_by_day(home, ent: Entity, loaded: list[FileResult]) -> dict[str, int]:
    """{UTC day: rows} of the raw files just written for a dated entity (its ``dated_by``
    column), shown in the materialization's metadata. Empty when not dated."""
    files = [home.raw / ent.name / f"{f.file_hash}.parquet" for f in loaded if f.rows_written]
    files = [str(p) for p in files if p.exists()]
    if not ent.dated_by or not files:
        return {}
    with duckdb.connect() as con:
        rows = con.execute(
            f'select cast(cast("{ent.dated_by}" as date) as varchar) as day, count(*) '
            "from read_parquet(?, union_by_name = true) group by day order by day",
            [files],
        ).fetchall()
    return {day or "undated": count for day, count in rows}


def _days_metadata(by_day: dict[str, int]) -> dict[str, dg.MetadataValue]:
    days = [d for d in by_day if d != "undated"]
    if not days:
        return {}
    return {
        "new_rows_by_day": dg.MetadataValue.json(by_day),
        "new_days": dg.MetadataValue.text(f"{days[0]}..{days[-1]} ({len(days)} days)"),
    }


def _rejected_table(files: list[FileResult]) -> dg.MetadataValue:
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("file", "string"),
            dg.TableColumn("mapping", "string"),
            dg.TableColumn("reason", "string"),
        ]
    )
    records = [
        dg.TableRecord({"file": f.file, "mapping": f.mapping or "-", "reason": f.reason[:500]})
        for f in files
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def loaded_files(report: IngestReport, ent: Entity) -> list[FileResult]:
    """The files of ``ent`` this ingest loaded (not skipped or rejected)."""
    return [f for f in report.for_entity(ent.name) if f.status == "loaded"]


def materialize_result(
    report: IngestReport, home, ent: Entity, by_day: dict[str, int]
) -> dg.MaterializeResult:
    files = report.for_entity(ent.name)
    unmapped = [f for f in report.rejected if f.entity is None]
    loaded = loaded_files(report, ent)
    rejected = [f for f in files if f.status == "rejected"] + unmapped
    return dg.MaterializeResult(
        asset_key=dg.AssetKey(ent.asset_key),
        metadata={
            "rows_loaded": dg.MetadataValue.int(sum(f.rows_loaded for f in loaded)),
            "rows_quarantined": dg.MetadataValue.int(sum(f.rows_quarantined for f in loaded)),
            "rows_written": dg.MetadataValue.int(sum(f.rows_written for f in loaded)),
            "rows_total": dg.MetadataValue.int(raw_row_count(home, ent.name)),
            "files_loaded": dg.MetadataValue.int(len(loaded)),
            "files_rejected": dg.MetadataValue.int(len(rejected)),
            "files_skipped_duplicate": dg.MetadataValue.int(
                sum(1 for f in files if f.status == "skipped_duplicate")
            ),
            "rejected_files": _rejected_table(rejected),
            "drift": dg.MetadataValue.json({f.file: f.drift for f in loaded if f.drift}),
            **_days_metadata(by_day),
            **_invalid_mappings(report),
        },
    )


def _invalid_mappings(report: IngestReport) -> dict[str, dg.MetadataValue]:
    """One line per invalid mapping (file, key, what is allowed), on every raw asset: a bad
    mapping that matched no file this run is still seen in the UI."""
    if not report.invalid_mappings:
        return {}
    return {
        "invalid_mappings": dg.MetadataValue.md(
            "\n".join(f"* {e}" for e in report.invalid_mappings)
        )
    }


def build_ingest_landing() -> dg.AssetsDefinition:
    """The multi-asset of every raw entity (unpartitioned, like every asset: the dbt models
    downstream build what was loaded since their last build, docs/incremental.md)."""

    @dg.multi_asset(
        name="ingest_landing",
        specs=[_spec(e) for e in entities().values()],
        can_subset=True,
        description="Load new landing files into the raw layer (exactly once per file content).",
    )
    def ingest_landing(context: AssetExecutionContext, segmart: SegmartHome):
        home = segmart.paths
        selected = {key.path[-1] for key in context.selected_asset_keys}
        names = [e.name for e in entities().values() if e.name in selected]
        report = run_ingest(home.root, entities=names)
        context.log.info(str(report))
        for f in report.rejected:
            context.log.warning(f"rejected {f.file}: {f.reason}")
        for ent in entities().values():
            if ent.name in selected:
                by_day = rows_by_day(home, ent, loaded_files(report, ent))
                yield materialize_result(report, home, ent, by_day)

    return ingest_landing


# ---------------------------------------------------------------------------- sensor


def scan_landing(home, cursor: dict, stable_seconds: float, now: float) -> tuple[list, dict]:
    """(files ready to ingest, new cursor). Pure function of the landing folder and cursor.

    A file is ready once its (size, mtime) has not changed for ``stable_seconds`` — seen
    unchanged across ticks, or already that old when first seen — and neither the manifest
    nor an earlier run request knows it. A file the manifest knows is ready again when the
    mappings changed in a way that concerns it (rejected under another mapping set, or a new
    ``reading: additional`` mapping may read it): requested once per mapping set.
    """
    pending: dict = dict(cursor.get("pending", {}))
    done: dict = dict(cursor.get("done", {}))
    handled = Manifest(home.manifest).handled_index()
    mset = load_mapping_set(home.root) if handled else None
    rematch = mset is not None and rematch_needed(home, mset)
    ready, present = [], set()
    for path in landing_files(home.landing):
        rel = path.relative_to(home.landing).as_posix()
        st = path.stat()
        present.add(rel)
        sig = [st.st_size, st.st_mtime_ns]
        records = handled.get((rel, *sig))
        if records is not None:
            if not needs_another_look(records, mset, rematch, rel):
                continue
            sig = [*sig, mset.hash]  # a retry under this mapping set
        if done.get(rel) == sig:
            continue
        prev = pending.get(rel)
        if prev and prev[:2] == sig[:2]:
            stable = now - prev[2] >= stable_seconds
        else:
            pending[rel] = [*sig[:2], now]
            stable = now - st.st_mtime >= stable_seconds
        if stable:
            ready.append([rel, *sig])
    for rel, *sig in ready:
        done[rel] = sig
        pending.pop(rel, None)
    new_cursor = {
        "pending": {k: v for k, v in pending.items() if k in present},
        "done": {k: v for k, v in done.items() if k in present},
    }
    return ready, new_cursor


def build_landing_sensor(job, minimum_interval_seconds: int = 30) -> dg.SensorDefinition:
    """A sensor that requests ``job`` when new landing files are complete (size stable)."""

    @dg.sensor(
        name="landing_files_sensor",
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Starts a run when new files in {home}/landing stop growing.",
    )
    def landing_files_sensor(context: SensorEvaluationContext, segmart: SegmartHome):
        stable = float(segmart.config().get("ingest", {}).get("stable_seconds", 10))
        cursor = json.loads(context.cursor) if context.cursor else {}
        ready, new_cursor = scan_landing(segmart.paths, cursor, stable, time.time())
        context.update_cursor(json.dumps(new_cursor, sort_keys=True))
        if not ready:
            return dg.SkipReason("no new complete landing files")
        run_key = hashlib.sha256(json.dumps(sorted(ready)).encode()).hexdigest()[:32]
        names = ", ".join(r[0] for r in ready[:5]) + (" ..." if len(ready) > 5 else "")
        context.log.info(f"{len(ready)} new landing file(s): {names}")
        return dg.RunRequest(run_key=run_key, tags={"segmart/new_files": str(len(ready))})

    return landing_files_sensor
