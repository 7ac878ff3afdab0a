"""Run one suite against one source: parameters, previous-run bounds, routing, Data Docs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.core.files import atomic_write_text
from pipelines.core.mart_inputs import absent_phrase
from pipelines.quality import aggregate, engine
from pipelines.quality.engine import GxRunner, Outcome
from pipelines.quality.sources import DuckSource
from pipelines.quality.suites import Expectation, Suite, shared_parameters
from pipelines.quality.validated_files import FILE_SCOPED_KEY

DEFAULT_CHUNK_ROWS = 200_000
ROW_ENGINES = ("duckdb", "pandas")


@dataclass
class SuiteRun:
    """Everything a check reports about one validation of one suite."""

    suite: Suite
    run_id: str
    run_time: datetime
    source: str
    outcomes: list[Outcome]
    rows_checked: int
    chunks: int
    row_count: int | None
    previous_row_count: int | None
    docs_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    inputs: MartInputs | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def blocking_failure(self) -> bool:
        return any(o.severity == "error" for o in self.failed)


@dataclass(frozen=True)
class MartInputs:
    """The raw entities whose rows make a mart's rows (seed ``mart_inputs``) and how many
    rows they have now. An expectation with ``meta.needs_inputs`` (a mart's "not empty / not
    collapsing" row count) applies only when these inputs had rows in this run or in the
    last accepted one; a mart with rows in the last accepted run had inputs then."""

    entities: tuple[str, ...]
    rows: int

    def applies(self, previous: dict) -> bool:
        return (
            self.rows > 0
            or (previous.get("input_rows") or 0) > 0
            or (previous.get("row_count") or 0) > 0
        )

    def describe(self) -> str:
        return f"inputs {', '.join(self.entities) or '(none)'}: {self.rows} raw rows"


def runtime_parameters(now: datetime) -> dict:
    """Suite parameters computed per run (UTC, naive like the stored timestamps).

    ``future_cutoff_*`` allow one day of slack: ad platforms report days in the account's
    time zone, which can be up to 14 hours ahead of UTC.
    """
    naive = now.astimezone(UTC).replace(tzinfo=None)
    return {
        "run_time_utc": pd.Timestamp(naive),
        "future_cutoff_ts": pd.Timestamp(naive + timedelta(days=1)),
        "future_cutoff_date": pd.Timestamp(naive.date() + timedelta(days=1)),
    }


def resolve(value: object, parameters: dict) -> object:
    """Substitute ``{"$PARAMETER": name}`` values (for metadata and Data Docs)."""
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            return parameters.get(value["$PARAMETER"])
        return {k: resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters) for v in value]
    return value


class QualityState:
    """Row counts of the last accepted run per suite, in ``{home}/state/quality/``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, suite: str) -> Path:
        return self.directory / f"{suite}.json"

    def previous(self, suite: str) -> dict:
        path = self._path(suite)
        return json.loads(path.read_text()) if path.exists() else {}

    def record(
        self, suite: str, row_count: int, run_id: str, at: datetime, input_rows: int | None = None
    ) -> None:
        record = {"row_count": row_count, "run_id": run_id, "recorded_at": at.isoformat()}
        if input_rows is not None:
            record["input_rows"] = input_rows
        atomic_write_text(self._path(suite), json.dumps(record))


def row_count_kwargs(exp: Expectation, previous: int | None) -> dict:
    """Static bounds tightened by ``meta.relative_to_previous`` against the previous count."""
    kw = dict(exp.kwargs)
    rel = exp.meta.get("relative_to_previous") or {}
    if previous is None or not rel:
        return kw
    if rel.get("min_ratio") is not None:
        low = math.ceil(previous * float(rel["min_ratio"]))
        kw["min_value"] = low if kw.get("min_value") is None else max(kw["min_value"], low)
    if rel.get("max_ratio") is not None and previous > 0:
        high = math.floor(previous * float(rel["max_ratio"]))
        kw["max_value"] = high if kw.get("max_value") is None else min(kw["max_value"], high)
    return kw


def run_suite(
    suite: Suite,
    source: DuckSource,
    *,
    pii: set[str],
    state: QualityState | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    now: datetime | None = None,
    run_id: str | None = None,
    runner: GxRunner | None = None,
    inputs: MartInputs | None = None,
    row_engine: str = "duckdb",
) -> SuiteRun:
    """Validate every expectation of ``suite`` over ``source``: row-level expectations (and
    uniqueness keyed by the file hash) over its :attr:`~DuckSource.row_view`, the others over
    the whole data. With ``inputs``, expectations marked ``meta.needs_inputs`` pass as not
    applicable when those inputs had no rows now nor in the last accepted run.

    ``row_engine`` ``duckdb`` (default) counts the row-level expectations that have a SQL form
    in one DuckDB aggregate (:mod:`pipelines.quality.aggregate`) and the others on pandas
    chunks; ``pandas`` runs them all on pandas chunks (the reference the aggregate is tested
    against)."""
    if row_engine not in ROW_ENGINES:
        raise ValueError(f"quality.row_engine must be one of {ROW_ENGINES}, not {row_engine!r}")
    now = now or datetime.now(UTC)
    run_id = run_id or now.strftime("%Y%m%dT%H%M%S%fZ")
    runner = runner or GxRunner()
    parameters = {**shared_parameters(), **runtime_parameters(now)}
    columns = source.columns()
    keys = [c for c in suite.key if c in columns]
    outcomes: dict[str, Outcome] = {}
    notes = []

    schema_frame = source.empty_frame()
    for exp in suite.by_route("schema"):
        outcomes[exp.label] = engine.validate_frame(
            runner, exp, exp.kwargs, schema_frame, parameters, [], pii, "column list of the data"
        )

    row_count = source.row_count()
    previous_record = state.previous(suite.name) if state else {}
    previous = previous_record.get("row_count")
    without_inputs = inputs is not None and not inputs.applies(previous_record)
    if without_inputs:
        notes.append(
            f"{absent_phrase(inputs.entities)} in this run or the last accepted one: "
            "the checks marked needs_inputs do not apply"
        )
    for exp in suite.by_route("row_count"):
        if without_inputs and exp.meta.get("needs_inputs"):
            outcomes[exp.label] = engine.Outcome(
                exp,
                exp.kwargs,
                success=True,
                evaluated_on=f"not applicable: {inputs.describe()}, none in the last accepted run",
                observed_value=row_count,
            )
            continue
        kw = row_count_kwargs(exp, previous)
        where = f"count of all {row_count} rows"
        if exp.meta.get("relative_to_previous"):
            where += f"; previous accepted run: {previous if previous is not None else 'none'}"
        frame = pd.DataFrame(index=pd.RangeIndex(row_count))
        outcomes[exp.label] = engine.validate_frame(
            runner, exp, kw, frame, parameters, [], pii, where
        )

    for exp in suite.by_route("unique"):
        kw = exp.kwargs
        cols = kw.get("column_list") or [kw["column"]]
        missing = [c for c in cols if c not in columns]
        if missing:
            outcomes[exp.label] = engine.failed_outcome(
                exp, kw, f"columns not in the data: {missing}", "DuckDB GROUP BY"
            )
            continue
        default_ignore = "all_values_are_missing" if "column_list" in kw else "any_value_is_missing"
        # a key with the file's hash can only repeat within a file: the new files suffice
        view = source.row_view if FILE_SCOPED_KEY in cols else "source"
        dups = source.duplicates(
            cols,
            ignore_if=kw.get("ignore_row_if", default_ignore),
            sample=engine.SAMPLE_SIZE,
            view=view,
        )
        outcomes[exp.label] = engine.unique_outcome(exp, kw, dups, pii)

    for exp in suite.by_route("aggregate"):
        outcomes[exp.label] = _aggregate(runner, exp, source, parameters, pii)

    row_exps = [(e, e.kwargs) for e in suite.by_route("rows")]
    row_outcomes, rows_checked, chunks = _validate_rows(
        runner,
        suite,
        row_exps,
        source,
        columns,
        keys,
        parameters,
        pii,
        chunk_rows,
        schema_frame,
        row_engine,
        notes,
    )
    for o in row_outcomes:
        outcomes[o.expectation.label] = o
    row_view_count = row_count if source.row_view == "source" else source.row_count(source.row_view)
    if source.row_note:
        notes.append(f"{source.row_note} ({row_view_count} of {row_count} rows)")
    if row_exps and rows_checked != row_view_count:
        notes.append(f"row-level expectations saw {rows_checked} of {row_view_count} rows")
        for o in row_outcomes:
            o.success = False
            o.exception = o.exception or notes[-1]

    ordered = [outcomes[e.label] for e in suite.expectations]
    for o in ordered:
        o.kwargs = engine.json_safe(resolve(o.kwargs, parameters))
    run = SuiteRun(
        suite=suite,
        run_id=run_id,
        run_time=now,
        source=source.description,
        outcomes=ordered,
        rows_checked=rows_checked if row_exps else row_view_count,
        chunks=chunks,
        row_count=row_count,
        previous_row_count=previous,
        notes=notes,
        inputs=inputs,
    )
    if state is not None and not run.blocking_failure:
        state.record(suite.name, row_count, run_id, now, inputs.rows if inputs else None)
    return run


def _validate_rows(
    runner: GxRunner,
    suite: Suite,
    row_exps: list[tuple[Expectation, dict]],
    source: DuckSource,
    columns: dict[str, str],
    keys: list[str],
    parameters: dict,
    pii: set[str],
    chunk_rows: int,
    schema_frame: pd.DataFrame,
    row_engine: str,
    notes: list[str],
) -> tuple[list[Outcome], int, int]:
    """Row-level outcomes (in ``row_exps`` order), rows validated, pandas chunks read."""
    compiled: list[aggregate.Compiled] = []
    left: list[tuple[Expectation, dict]] = []
    absent: list[tuple[Expectation, dict]] = []
    for exp, kw in row_exps:
        if row_engine != "duckdb":
            left.append((exp, kw))
            continue
        stripped = {k: v for k, v in kw.items() if k != "mostly"}
        c = aggregate.compile_expectation(exp, resolve(stripped, parameters), columns)
        if isinstance(c, aggregate.Compiled):
            compiled.append(c)
        elif c.startswith(aggregate.ABSENT):
            absent.append((exp, kw))
        else:
            left.append((exp, kw))
            notes.append(f"{exp.label} on pandas chunks: {c}")
    outcomes: dict[str, Outcome] = {}
    if absent:  # GX fails them on the zero-row frame with its own message: no row is needed
        needed = engine.suite_columns(suite, columns, [e for e, _ in absent])
        failed, _, _ = engine.validate_rows(
            runner, absent, [], parameters, keys, pii, empty=schema_frame[needed]
        )
        for o in failed:
            o.evaluated_on = "column list of the data"
            outcomes[o.expectation.label] = o
    rows = None
    if compiled:
        try:
            rows, counts = aggregate.count_all(
                source.con, source.row_view, compiled, keys, engine.SAMPLE_SIZE, columns
            )
        except duckdb.Error as exc:  # never lose a check: the pandas path answers instead
            notes.append(f"DuckDB aggregate failed ({type(exc).__name__}: {exc}); pandas chunks")
            left, compiled = list(row_exps), []
        else:
            where = f"DuckDB aggregate over all {rows} rows (one query for the suite)"
            for c, n in zip(compiled, counts, strict=True):
                outcomes[c.expectation.label] = engine.counted_outcome(
                    c.expectation,
                    dict(c.expectation.kwargs),
                    element_count=n.element_count,
                    missing_count=n.missing_count,
                    unexpected_count=n.unexpected_count,
                    keys=n.sample,
                    pii=pii,
                    evaluated_on=where,
                )
    chunks = 0
    if left or not (compiled or absent):
        needed = engine.suite_columns(suite, columns, [e for e, _ in left])
        pandas_outcomes, pandas_rows, chunks = engine.validate_rows(
            runner,
            left,
            source.chunks(needed, chunk_rows),
            parameters,
            keys,
            pii,
            empty=schema_frame[needed],
        )
        for o in pandas_outcomes:
            outcomes[o.expectation.label] = o
        if rows is None or pandas_rows != rows:
            rows = pandas_rows if rows is None else min(rows, pandas_rows)
    if rows is None and absent:  # only absent columns: every row was (not) checked
        rows = source.row_count(source.row_view)
    return [outcomes[e.label] for e, _ in row_exps], rows or 0, chunks


def _aggregate(runner, exp: Expectation, source: DuckSource, parameters, pii) -> Outcome:
    spec = exp.meta["aggregate"]
    try:
        if spec == "column_types":
            frame, key, where = source.column_types(), ["column_name"], "DuckDB column types"
        else:
            frame = source.fetch(spec["sql"], engine.MAX_AGGREGATE_ROWS)
            key = list(spec.get("key") or [])
            where = f"DuckDB aggregate over all rows ({len(frame)} aggregate rows)"
    except Exception as exc:  # a broken query is a failed expectation, reported as such
        return engine.failed_outcome(exp, exp.kwargs, f"aggregate failed: {exc}", "aggregate")
    return engine.validate_frame(runner, exp, exp.kwargs, frame, parameters, key, pii, where)
