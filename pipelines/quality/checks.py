"""GX suites as blocking Dagster asset checks on the raw entities and the marts.

A check fails (``passed=False``) when any expectation fails; its severity is ERROR when an
``error`` expectation failed (Dagster then skips everything downstream in the run, because the
checks are ``blocking=True``) and WARN otherwise (reported, not blocking).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from pipelines.core.contract import DUCKDB_TYPES, entities, lineage_columns
from pipelines.core.mart_inputs import entity_rows, mart_inputs
from pipelines.core.resources import WAREHOUSE_POOL, SegmartHome
from pipelines.core.settings import HomePaths, load_config
from pipelines.quality.docs import build_docs
from pipelines.quality.runner import MartInputs, QualityState, SuiteRun, run_suite
from pipelines.quality.sources import raw_data_files, raw_source, warehouse_source
from pipelines.quality.suites import available_suites, load_suite
from pipelines.quality.validated_files import MODES, ValidatedFiles

MARTS_SCHEMA = "marts"
MAX_METADATA_KEYS = 5


def _settings(home: HomePaths) -> tuple[dict, int]:
    config = load_config(home.root)
    chunk_rows = int((config.get("quality") or {}).get("chunk_rows") or 200_000)
    return config.get("duckdb") or {}, chunk_rows


def _row_engine(home: HomePaths) -> str:
    """``quality.row_engine`` (config/segmart.yaml): ``duckdb`` (default: row-level
    expectations counted by one aggregate query per table) or ``pandas`` (every row on GX's
    pandas engine, in chunks)."""
    return (load_config(home.root).get("quality") or {}).get("row_engine") or "duckdb"


def _finish(run: SuiteRun, home: HomePaths) -> SuiteRun:
    try:
        run.docs_path = build_docs(run, home.quality)
    except Exception as exc:  # Data Docs are a report: never let rendering fail the gate
        run.notes.append(f"Data Docs not rendered: {type(exc).__name__}: {exc}")
    return run


def validate_raw(home: HomePaths, entity: str, *, chunk_rows: int | None = None) -> SuiteRun:
    """Validate ``expectations/raw__<entity>.json`` over ``{home}/raw/<entity>/*.parquet``;
    row-level expectations over the files not passed before (pipelines/quality/validated_files.py)."""
    ent = entities()[entity]
    expected = {c.name: DUCKDB_TYPES[c.type] for c in ent.columns}
    expected |= {n: DUCKDB_TYPES[t] for n, t in lineage_columns().items()}
    pii = {c.name for c in ent.columns if c.pii}
    settings, default_chunk = _settings(home)
    suite = load_suite("raw", entity)
    files = raw_data_files(home.raw, entity)
    ledger = ValidatedFiles(home.state / "quality", suite)
    row_files = ledger.pending(files) if _raw_rows_mode(home) == "new_files" else None
    with raw_source(home.raw, entity, expected, settings, row_files=row_files) as source:
        run = run_suite(
            suite,
            source,
            pii=pii,
            state=QualityState(home.state / "quality"),
            chunk_rows=chunk_rows or default_chunk,
            row_engine=_row_engine(home),
        )
        run.notes.insert(0, f"{source.files} raw files")
    if not run.blocking_failure:  # warnings were reported by this run: once per file
        ledger.record(files)
    return _finish(run, home)


def _raw_rows_mode(home: HomePaths) -> str:
    """``quality.raw_rows`` (config/segmart.yaml): ``new_files`` (default) or ``all_files``."""
    mode = (load_config(home.root).get("quality") or {}).get("raw_rows") or "new_files"
    if mode not in MODES:
        raise ValueError(f"quality.raw_rows must be one of {MODES}, not {mode!r}")
    return mode


def validate_mart(home: HomePaths, mart: str, *, chunk_rows: int | None = None) -> SuiteRun:
    """Validate ``expectations/mart__<mart>.json`` over ``marts.<mart>`` (read-only).

    The expectations marked ``meta.needs_inputs`` apply only when the raw entities that feed
    the mart (seed ``mart_inputs``, :mod:`pipelines.core.mart_inputs`) had rows in this run or the
    last accepted one: a business that never landed an account export gets an empty
    ``dim_accounts``, while accounts that vanished after an accepted run still block."""
    settings, default_chunk = _settings(home)
    suite = load_suite("mart", mart)
    pii = set(suite.meta.get("pii") or [])
    entities = mart_inputs().get(mart)  # a mart not in the seed: every check applies
    inputs = (
        MartInputs(entities, sum(entity_rows(home.raw, entities).values())) if entities else None
    )
    with warehouse_source(home.warehouse, MARTS_SCHEMA, mart, settings) as source:
        run = run_suite(
            suite,
            source,
            pii=pii,
            state=QualityState(home.state / "quality"),
            chunk_rows=chunk_rows or default_chunk,
            inputs=inputs,
            row_engine=_row_engine(home),
        )
        if inputs:
            run.notes.insert(0, inputs.describe())
    return _finish(run, home)


def check_result(run: SuiteRun) -> dg.AssetCheckResult:
    """The Dagster result: pass/fail, severity and what exactly was checked."""
    severity = dg.AssetCheckSeverity.ERROR if run.blocking_failure else dg.AssetCheckSeverity.WARN
    results = [
        {
            "expectation": o.expectation.label,
            "severity": o.severity,
            "success": o.success,
            "unexpected_count": o.unexpected_count,
            "element_count": o.element_count,
            "observed_value": o.observed_value,
            "evaluated_on": o.evaluated_on,
            "failing_keys_sample": o.failing_keys,
            "exception": o.exception,
        }
        for o in run.outcomes
    ]
    metadata: dict = {
        "suite": run.suite.name,
        **({"inputs": run.inputs.describe()} if run.inputs else {}),
        "source": run.source,
        "rows_checked": dg.MetadataValue.int(run.rows_checked),
        "chunks": dg.MetadataValue.int(run.chunks),
        "row_count": dg.MetadataValue.int(run.row_count or 0),
        "previous_row_count": run.previous_row_count,
        "expectations": len(run.outcomes),
        "failed_expectations": dg.MetadataValue.json([o.expectation.label for o in run.failed]),
        "results": dg.MetadataValue.json(results),
        "summary": dg.MetadataValue.md(_markdown(run)),
    }
    if run.notes:
        metadata["notes"] = "; ".join(run.notes)
    if run.docs_path:
        metadata["data_docs"] = dg.MetadataValue.path(str(run.docs_path))
        metadata["data_docs_url"] = dg.MetadataValue.url(Path(run.docs_path).as_uri())
    for o in run.failed[:MAX_METADATA_KEYS]:
        metadata[f"unexpected_count: {o.expectation.label}"] = o.unexpected_count
    return dg.AssetCheckResult(
        passed=run.passed,
        severity=severity,
        metadata=metadata,
        description=_description(run),
    )


def _description(run: SuiteRun) -> str:
    if run.passed:
        return f"{len(run.outcomes)} expectations passed on {run.rows_checked} rows"
    worst = "error" if run.blocking_failure else "warn"
    return f"{len(run.failed)} of {len(run.outcomes)} expectations failed (worst: {worst})"


def _markdown(run: SuiteRun) -> str:
    lines = [
        "| expectation | severity | result | unexpected | checked on |",
        "|---|---|---|---|---|",
    ]
    for o in sorted(run.outcomes, key=lambda o: o.success):
        result = "pass" if o.success else ("**FAIL**" if o.exception is None else "**ERROR**")
        unexpected = "" if o.unexpected_count is None else str(o.unexpected_count)
        label = o.expectation.label.replace("|", "/")
        lines.append(f"| `{label}` | {o.severity} | {result} | {unexpected} | {o.evaluated_on} |")
    return "\n".join(lines)


def error_result(exc: Exception, action: str, label: str, name: str) -> dg.AssetCheckResult:
    """A failed (ERROR) result for a check that could not run at all, e.g.
    ``could not validate raw__orders: FileNotFoundError: ...`` (metadata ``{label: name}``)."""
    error = f"{type(exc).__name__}: {exc}"
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"could not {action} {name}: {error}",
        metadata={label: name, "error": error},
    )


def build_raw_check(entity: str, source: str) -> dg.AssetChecksDefinition:
    """A blocking check of the raw entity ``[source, entity]``."""
    suite = f"raw__{entity}"

    @dg.asset_check(
        asset=dg.AssetKey([source, entity]),
        name=f"gx_{suite}",
        description=f"Great Expectations suite expectations/{suite}.json over the raw layer",
        blocking=True,
        metadata={"suite_file": f"expectations/{suite}.json"},
    )
    def _check(segmart: SegmartHome) -> dg.AssetCheckResult:
        try:
            run = validate_raw(segmart.paths, entity)
        except (FileNotFoundError, ValueError, duckdb.Error) as exc:
            return error_result(exc, "validate", "suite", suite)
        return check_result(run)

    return _check


def build_mart_check(mart: str) -> dg.AssetChecksDefinition:
    """A blocking check of the dbt mart ``[mart]``, in the warehouse pool (reads its file)."""
    suite = f"mart__{mart}"

    @dg.asset_check(
        asset=dg.AssetKey([mart]),
        name=f"gx_{suite}",
        description=f"Great Expectations suite expectations/{suite}.json over marts.{mart}",
        blocking=True,
        pool=WAREHOUSE_POOL,
        metadata={"suite_file": f"expectations/{suite}.json"},
    )
    def _check(segmart: SegmartHome) -> dg.AssetCheckResult:
        try:
            run = validate_mart(segmart.paths, mart)
        except (FileNotFoundError, ValueError, duckdb.Error) as exc:
            return error_result(exc, "validate", "suite", suite)
        return check_result(run)

    return _check


def raw_check_definitions() -> list[dg.AssetChecksDefinition]:
    """One blocking check per raw entity of the contract (each needs a suite file)."""
    have = set(available_suites("raw"))
    missing = sorted(set(entities()) - have)
    if missing:
        raise FileNotFoundError(f"raw entities without a suite in expectations/: {missing}")
    return [build_raw_check(name, ent.source) for name, ent in sorted(entities().items())]


def mart_checks(mart_names: list[str]) -> list[dg.AssetChecksDefinition]:
    """Blocking checks for the marts that have ``expectations/mart__<name>.json``.

    Adding a check for a new mart means adding its suite file; marts without one get none.
    """
    have = set(available_suites("mart"))
    return [build_mart_check(name) for name in sorted(set(mart_names)) if name in have]
