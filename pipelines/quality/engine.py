"""Validate a suite with Great Expectations over the *full* data.

GX's SQL engine fails on DuckDB (DESIGN.md). Row-level expectations with a SQL form are counted
by one DuckDB aggregate per table (:mod:`pipelines.quality.aggregate`, :func:`counted_outcome`);
everything else runs on pandas frames, routed so that the answer holds for the whole data while
memory stays bounded:

* ``rows``: row-level (column map / pair map / multicolumn map) expectations without a SQL form
  (or all of them with ``quality.row_engine: pandas``) run chunk by chunk
  (``chunk_rows`` rows, only the columns they read). Per chunk GX counts elements, missing and
  unexpected values; the counts add up across chunks, and ``mostly`` is applied to the totals
  (it is removed from the per-chunk call). Expectations that only report a per-chunk verdict
  (e.g. a column dtype) pass when every chunk passes.
* ``schema``: table-shape expectations run once on a zero-row frame with every column.
* ``row_count``: the whole count from DuckDB, validated by GX on a zero-column frame with that
  many rows (a ``RangeIndex``, no memory).
* ``unique``: duplicates are found by DuckDB ``GROUP BY ... HAVING count(*) > 1`` over the whole
  data (a per-chunk check would miss duplicates in different chunks); the unexpected count is
  the number of rows in duplicated combinations, as GX counts it.
* ``aggregate``: ``meta.aggregate.sql`` (a query over the view ``source``) is computed by DuckDB
  and GX validates the expectation on that small result (e.g. spend per day). The built-in
  ``"column_types"`` aggregate lists each column's DuckDB type against the contract.

Failing rows are reported by their key columns only (``unexpected_index_column_names``); the
checked value itself is never kept, and key values of PII columns are hashed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from pipelines.core.settings import pii_key
from pipelines.quality.suites import Expectation, Suite

SAMPLE_SIZE = 20
MAX_AGGREGATE_ROWS = 1_000_000


@dataclass
class Outcome:
    """The result of one expectation over the whole data."""

    expectation: Expectation
    kwargs: dict
    success: bool
    evaluated_on: str
    element_count: int | None = None
    unexpected_count: int | None = None
    missing_count: int | None = None
    observed_value: object = None
    failing_keys: list[dict] = field(default_factory=list)
    exception: str | None = None

    @property
    def severity(self) -> str:
        return self.expectation.severity

    @property
    def unexpected_percent(self) -> float | None:
        if self.unexpected_count is None or not self.element_count:
            return None
        considered = self.element_count - (self.missing_count or 0)
        return 100.0 * self.unexpected_count / considered if considered else 0.0

    def gx_result_dict(self) -> dict:
        """The ``result`` block in GX's SUMMARY shape (for Data Docs)."""
        out: dict = {}
        if self.observed_value is not None:
            out["observed_value"] = self.observed_value
        if self.element_count is not None:
            out["element_count"] = self.element_count
        if self.unexpected_count is not None:
            out["unexpected_count"] = self.unexpected_count
            out["unexpected_percent"] = self.unexpected_percent
            out["partial_unexpected_list"] = []
        if self.missing_count is not None:
            out["missing_count"] = self.missing_count
        if self.failing_keys:
            out["partial_unexpected_index_list"] = self.failing_keys
        return out


@dataclass
class _Tally:
    element_count: int = 0
    unexpected_count: int = 0
    missing_count: int = 0
    counted: bool = False
    all_success: bool = True
    observed: object = None
    keys: list[dict] = field(default_factory=list)
    exception: str | None = None


def pii_hash(value: object) -> str:
    """A stable, non-reversible token for a personal value: the first 16 hex digits of the
    HMAC-SHA-256 dbt computes (``pii_hash`` macro), with the same key (env
    ``SEGMART_PII_KEY``, else the home's generated key: ``pipelines.core.settings.pii_key``)."""
    return f"sha256:{pii_key().hash(str(value))[:16]}"


def json_safe(value: object) -> object:
    """Plain JSON values for metadata: NaN/NaT -> None, timestamps -> ISO strings."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


class GxRunner:
    """An ephemeral GX context with one pandas dataframe asset, created on first use."""

    def __init__(self) -> None:
        self._batch_definition = None

    def _definition(self):
        if self._batch_definition is None:
            # GX is imported only when a suite runs (its import takes seconds)
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(
                globally=False, metric_calculations=False
            )
            asset = context.data_sources.add_pandas("segmart").add_dataframe_asset("frame")
            self._batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        return self._batch_definition

    def validate(
        self,
        frame: pd.DataFrame,
        items: list[tuple[Expectation, dict]],
        parameters: dict,
        index_columns: list[str],
    ) -> list:
        """Validate ``(expectation, kwargs)`` pairs on ``frame``; results in the same order."""
        import great_expectations as gx  # lazy, as above
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        batch = self._definition().get_batch(batch_parameters={"dataframe": frame})
        configs = [
            ExpectationConfiguration(
                type=e.type, kwargs=coerce_bounds(kw, frame), meta={"label": e.label}
            )
            for e, kw in items
        ]
        suite = gx.ExpectationSuite(name="chunk", expectations=[c.to_domain_obj() for c in configs])
        index = [c for c in index_columns if c in frame.columns]
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
        if index:
            result_format["unexpected_index_column_names"] = index
        result = batch.validate(
            suite, result_format=result_format, expectation_parameters=parameters
        )
        by_label = {r.expectation_config.meta["label"]: r for r in result.results}
        return [by_label[e.label] for e, _ in items]


def _exception_message(result) -> str | None:
    """GX reports errors flat or per metric; any message means the expectation errored."""
    info = result.exception_info or {}
    if info.get("raised_exception") or info.get("exception_message"):
        return info.get("exception_message") or "expectation raised an exception"
    for value in info.values():
        if isinstance(value, dict) and (
            value.get("raised_exception") or value.get("exception_message")
        ):
            return value.get("exception_message") or "expectation raised an exception"
    return None


def coerce_bounds(kwargs: dict, frame: pd.DataFrame) -> dict:
    """ISO-string ``min_value``/``max_value`` become timestamps for datetime columns.

    Suites are JSON, so a date bound is written ``"1900-01-01"``; pandas cannot compare that
    string with a datetime64 column.
    """
    column = kwargs.get("column")
    if column not in frame.columns or not pd.api.types.is_datetime64_any_dtype(frame[column]):
        return kwargs
    out = dict(kwargs)
    for bound in ("min_value", "max_value"):
        if isinstance(out.get(bound), str):
            out[bound] = pd.Timestamp(out[bound])
    return out


def _keys(result, key_columns: list[str], pii: set[str]) -> list[dict]:
    rows = (result.result or {}).get("partial_unexpected_index_list") or []
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        out.append(
            {
                c: (pii_hash(row[c]) if c in pii and row[c] is not None else json_safe(row[c]))
                for c in key_columns
                if c in row
            }
        )
    return out


def _mostly_success(considered: int, unexpected: int, mostly: float | None) -> bool:
    if mostly is None:
        return unexpected == 0
    if considered == 0:
        return True
    return (considered - unexpected) / considered >= mostly


def _single_outcome(exp: Expectation, kw: dict, result, evaluated_on: str, keys, pii) -> Outcome:
    res = dict(result.result or {})
    return Outcome(
        expectation=exp,
        kwargs=kw,
        success=bool(result.success),
        evaluated_on=evaluated_on,
        element_count=res.get("element_count"),
        unexpected_count=res.get("unexpected_count"),
        missing_count=res.get("missing_count"),
        observed_value=json_safe(res.get("observed_value")),
        failing_keys=_keys(result, keys, pii)[:SAMPLE_SIZE],
        exception=_exception_message(result),
    )


def validate_rows(
    runner: GxRunner,
    expectations: list[tuple[Expectation, dict]],
    frames: Iterable[pd.DataFrame],
    parameters: dict,
    key_columns: list[str],
    pii: set[str],
    empty: pd.DataFrame | None = None,
) -> tuple[list[Outcome], int, int]:
    """Row-level expectations over ``frames`` (the chunks of the whole data).

    Returns the outcomes, the number of rows and the number of chunks validated. With no
    chunk at all, ``empty`` (a zero-row frame) is validated once so missing columns surface.
    """
    if not expectations:
        return [], 0, 0
    stripped = [(e, {k: v for k, v in kw.items() if k != "mostly"}) for e, kw in expectations]
    tallies = [_Tally() for _ in expectations]
    rows = chunks = 0
    for frame in frames:
        rows += len(frame)
        chunks += 1
        _tally_chunk(runner, stripped, frame, parameters, key_columns, pii, tallies)
    if chunks == 0 and empty is not None:
        _tally_chunk(runner, stripped, empty, parameters, key_columns, pii, tallies)
    label = f"{rows} rows in {chunks} chunks"
    outcomes = []
    for (exp, kw), t in zip(expectations, tallies, strict=True):
        if t.exception:
            success = False
        elif t.counted:
            success = _mostly_success(
                t.element_count - t.missing_count, t.unexpected_count, kw.get("mostly")
            )
        else:
            success = t.all_success
        outcomes.append(
            Outcome(
                expectation=exp,
                kwargs=kw,
                success=success,
                evaluated_on=label,
                element_count=t.element_count if t.counted else None,
                unexpected_count=t.unexpected_count if t.counted else None,
                missing_count=t.missing_count if t.counted else None,
                observed_value=t.observed,
                failing_keys=t.keys,
                exception=t.exception,
            )
        )
    return outcomes, rows, chunks


def _tally_chunk(runner, stripped, frame, parameters, key_columns, pii, tallies) -> None:
    results = runner.validate(frame, stripped, parameters, key_columns)
    for t, result in zip(tallies, results, strict=True):
        message = _exception_message(result)
        if message:
            t.exception = t.exception or message
            continue
        res = result.result or {}
        if "unexpected_count" in res:
            t.counted = True
            t.element_count += int(res.get("element_count") or 0)
            t.unexpected_count += int(res.get("unexpected_count") or 0)
            t.missing_count += int(res.get("missing_count") or 0)
        else:
            t.all_success = t.all_success and bool(result.success)
            t.observed = json_safe(res.get("observed_value"))
        if len(t.keys) < SAMPLE_SIZE:
            t.keys.extend(_keys(result, key_columns, pii)[: SAMPLE_SIZE - len(t.keys)])


def validate_frame(
    runner: GxRunner,
    exp: Expectation,
    kw: dict,
    frame: pd.DataFrame,
    parameters: dict,
    key_columns: list[str],
    pii: set[str],
    evaluated_on: str,
) -> Outcome:
    """One expectation on one (aggregate, schema or row-count) frame."""
    (result,) = runner.validate(frame, [(exp, kw)], parameters, key_columns)
    return _single_outcome(exp, kw, result, evaluated_on, key_columns, pii)


def unique_outcome(exp: Expectation, kw: dict, dups: dict, pii: set[str]) -> Outcome:
    """Outcome of a uniqueness expectation from :meth:`DuckSource.duplicates`."""
    considered, unexpected = dups["considered"], dups["unexpected_rows"]
    sample = dups["sample"]
    keys = [
        {c: (pii_hash(v) if c in pii and v is not None else json_safe(v)) for c, v in row.items()}
        for row in sample.to_dict(orient="records")
    ]
    return Outcome(
        expectation=exp,
        kwargs=kw,
        success=_mostly_success(considered, unexpected, kw.get("mostly")),
        evaluated_on=(
            f"DuckDB GROUP BY over all {considered} rows "
            f"({dups['duplicated_keys']} duplicated key combinations)"
        ),
        element_count=considered,
        unexpected_count=unexpected,
        missing_count=0,
        failing_keys=keys,
    )


def counted_outcome(
    exp: Expectation,
    kw: dict,
    *,
    element_count: int,
    missing_count: int,
    unexpected_count: int,
    keys: list[dict],
    pii: set[str],
    evaluated_on: str,
) -> Outcome:
    """Outcome of a row-level expectation counted by a DuckDB aggregate
    (:mod:`pipelines.quality.aggregate`): ``mostly`` on the totals, as for chunks."""
    return Outcome(
        expectation=exp,
        kwargs=kw,
        success=_mostly_success(element_count - missing_count, unexpected_count, kw.get("mostly")),
        evaluated_on=evaluated_on,
        element_count=element_count,
        unexpected_count=unexpected_count,
        missing_count=missing_count,
        failing_keys=[
            {c: (pii_hash(v) if c in pii and v is not None else json_safe(v)) for c, v in k.items()}
            for k in keys[:SAMPLE_SIZE]
        ],
    )


def failed_outcome(exp: Expectation, kw: dict, message: str, evaluated_on: str) -> Outcome:
    return Outcome(exp, kw, success=False, evaluated_on=evaluated_on, exception=message)


def suite_columns(
    suite: Suite, available: Iterable[str], expectations: list[Expectation] | None = None
) -> list[str]:
    """Columns the row-level expectations (or ``expectations``) need, plus the key columns
    present in the data."""
    available = list(available)
    wanted = list(suite.key)
    for exp in suite.by_route("rows") if expectations is None else expectations:
        wanted += exp.columns
        condition = exp.kwargs.get("row_condition")
        if condition:
            wanted += [c for c in available if c in condition]
    seen: list[str] = []
    for c in wanted:
        if c in available and c not in seen:
            seen.append(c)
    return seen
