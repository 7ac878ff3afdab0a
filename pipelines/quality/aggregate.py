"""Row-level expectations as one DuckDB aggregate query per table.

GX 1.x cannot evaluate on DuckDB itself (its SQL engine fails through duckdb_engine, GX
issues #10738 / #11579; a native DuckDB engine is only a proposal, GX PR #12084), and its
pandas engine needs every row in Python. So each supported row-level expectation is compiled
into two SQL predicates with GX's pandas semantics —

* ``missing``: the row does not take part (GX's ``missing_count``: a null, or NaN in a float
  column; for pairs, the rows ``ignore_row_if`` drops), and
* ``unexpected``: the row takes part and fails (GX's ``unexpected_count``) —

and every expectation of a suite is counted in **one** pass over the rows
(``count(*) filter (where …)`` per expectation), with up to ``sample`` failing keys each
(``min(struct_pack(keys…), n) filter (where …)``: the smallest keys, a bounded heap). GX
still owns the contract: each expectation's configuration is first built and validated as a
GX domain object (an unknown or ill-typed kwarg fails there as it would in GX), the counts
become GX ``ExpectationValidationResult`` s in the Data Docs (:mod:`pipelines.quality.docs`),
and ``mostly`` is applied to the totals exactly as for chunked pandas validation.

What is compiled (everything else, e.g. a ``row_condition``, a bound whose type does not match
the column, a regex construct RE2 reads differently, runs on pandas chunks as before):

* ``expect_column_values_to_not_be_null``;
* ``expect_column_values_to_be_between`` on numeric and date/time columns (numeric bounds,
  resp. ISO-string / timestamp bounds; ``strict_min`` / ``strict_max``);
* ``expect_column_values_to_be_in_set`` with string values on a text column or numbers on a
  numeric column;
* ``expect_column_values_to_match_regex`` on a text column, the Python pattern translated to
  RE2 (``\\s`` and ``$`` as Python reads them; see :func:`re2_pattern`);
* ``expect_column_pair_values_a_to_be_greater_than_b`` on two numeric or two date/time
  columns, with ``or_equal``, when ``ignore_row_if`` is ``either_value_is_missing``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pandas as pd

from pipelines.quality.suites import Expectation

NUMERIC = re.compile(
    r"(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT"
    r"|FLOAT|DOUBLE|REAL|DECIMAL(\(.*\))?)$"
)
FLOATING = re.compile(r"(FLOAT|DOUBLE|REAL)$")
# timezone-aware columns reach pandas tz-aware, where a naive bound raises: left to pandas
TEMPORAL = re.compile(r"(DATE|TIMESTAMP|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS|DATETIME)$")
TEXT = re.compile(r"VARCHAR$")

# Python's str \s (str.isspace) as an RE2 class (RE2's own is ASCII). Python's \d is Unicode
# Nd of Python's Unicode version, RE2's \p{Nd} another version's: \d is left to pandas
PY_SPACE = r"\t-\r\x1c-\x20\x85\p{Z}"
ABSENT = "columns not in the data"
_PASS_ESCAPES = set("ntrfva") | {c for c in map(chr, range(33, 127)) if not c.isalnum()}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Compiled:
    """An expectation as SQL: which rows are missing, which are unexpected."""

    expectation: Expectation
    kwargs: dict
    missing: str
    unexpected: str
    reports_missing: bool = True  # GX's not-null expectation has no missing_count


@dataclass
class Counts:
    """The aggregate's answer for one compiled expectation."""

    element_count: int
    missing_count: int
    unexpected_count: int
    sample: list[dict]


def _missing(column: str, typ: str) -> str:
    col = quote(column)
    return f"({col} is null or isnan({col}))" if FLOATING.match(typ) else f"({col} is null)"


def _number(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return repr(value)


def _timestamp(value: object) -> str | None:
    """A GX date bound as a DuckDB timestamp literal (``coerce_bounds`` reads ISO strings)."""
    try:
        if isinstance(value, str):
            value = pd.Timestamp(value)
        if isinstance(value, (pd.Timestamp, datetime, date)):
            ts = pd.Timestamp(value)
            if ts.tzinfo is not None or ts is pd.NaT:
                return None
            return f"timestamp {_literal(ts.isoformat(sep=' '))}"
    except (ValueError, TypeError):
        return None
    return None


def re2_pattern(pattern: str) -> str | None:
    """``pattern`` (Python ``re``, searched as pandas ``str.contains`` does) in RE2 syntax with
    the same matches, or None when it uses a construct this translation does not cover
    (``\\d``, ``\\w``, ``\\b``, look-arounds, back references, inline flags, ``\\S`` inside a
    class …).

    Python's ``\\s`` is Unicode, RE2's ASCII: it becomes an explicit class. Python's ``$`` also
    matches before a final newline: it becomes ``(?:\\n?\\z)``.
    """
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            e = pattern[i + 1]
            i += 2
            if e == "s":
                out.append(PY_SPACE if in_class else f"[{PY_SPACE}]")
            elif e == "S" and not in_class:
                out.append(f"[^{PY_SPACE}]")
            elif e == "Z" and not in_class:
                out.append(r"\z")
            elif e == "A" and not in_class:
                out.append(r"\A")
            elif (
                e == "x"
                and i + 1 < n
                and all(h in "0123456789abcdefABCDEF" for h in pattern[i : i + 2])
            ):
                out.append("\\x" + pattern[i : i + 2])
                i += 2
            elif e in _PASS_ESCAPES:
                out.append("\\" + e)
            else:
                return None
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif c == "[":
                return None  # nested sets / set operations read differently
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a leading ] is literal in both
                out.append(r"\]")
                i += 1
            continue
        if c == "(" and pattern[i + 1 : i + 2] == "?" and pattern[i + 2 : i + 3] != ":":
            return None
        if c == "$":
            out.append(r"(?:\n?\z)")
            i += 1
            continue
        out.append(c)
        i += 1
    if in_class:
        return None
    return "".join(out)


def gx_config_error(exp: Expectation, kwargs: dict) -> str | None:
    """Build the expectation as a GX domain object: GX's own validation of its kwargs."""
    # GX is imported only when a suite runs (its import takes seconds)
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    try:
        ExpectationConfiguration(type=exp.type, kwargs=kwargs).to_domain_obj()
    except Exception as exc:  # GX raises its own (pydantic) errors here
        return f"{type(exc).__name__}: {exc}"
    return None


def compile_expectation(exp: Expectation, kwargs: dict, columns: dict[str, str]) -> Compiled | str:
    """``exp`` with resolved ``kwargs`` (no ``mostly``) as SQL over columns of ``columns``
    (name -> DuckDB type), or the reason it is left to pandas."""
    if kwargs.get("row_condition"):
        return "row_condition"
    wanted = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    absent = [c for c in wanted if c not in columns]
    if absent:
        return f"{ABSENT}: {absent}"
    if gx_config_error(exp, kwargs):
        return "GX rejects the configuration"
    compile_one = _COMPILERS.get(exp.type)
    if compile_one is None:
        return f"{exp.type} has no SQL form"
    return compile_one(exp, kwargs, columns)


def _not_null(exp, kw, columns):
    column = kw["column"]
    return Compiled(exp, kw, "false", _missing(column, columns[column]), reports_missing=False)


def _between(exp, kw, columns):
    column = kw["column"]
    typ = columns[column]
    low, high = kw.get("min_value"), kw.get("max_value")
    if low is None and high is None:
        return "no bound"
    if NUMERIC.match(typ):
        literal, col = _number, quote(column)
    elif TEMPORAL.match(typ):
        literal, col = _timestamp, f"cast({quote(column)} as timestamp)"
    else:
        return f"between on a {typ} column"
    bounds = {k: literal(v) for k, v in (("min", low), ("max", high)) if v is not None}
    if None in bounds.values():
        return "bound type does not match the column"
    if low is not None and high is not None:
        as_comparable = pd.Timestamp if TEMPORAL.match(typ) else (lambda v: v)
        if as_comparable(low) > as_comparable(high):
            return "min_value > max_value"  # GX raises: left to it
    inside = []
    if "min" in bounds:
        inside.append(f"{col} {'>' if kw.get('strict_min') else '>='} {bounds['min']}")
    if "max" in bounds:
        inside.append(f"{col} {'<' if kw.get('strict_max') else '<='} {bounds['max']}")
    missing = _missing(column, typ)
    return Compiled(exp, kw, missing, f"not {missing} and not ({' and '.join(inside)})")


def _in_set(exp, kw, columns):
    column = kw["column"]
    typ = columns[column]
    values = kw.get("value_set")
    if not isinstance(values, (list, tuple, set, frozenset)):
        return "value_set is not a list"
    if TEXT.match(typ) and all(isinstance(v, str) for v in values):
        items = [_literal(v) for v in values]
    elif NUMERIC.match(typ) and all(_number(v) is not None for v in values):
        items = [_number(v) for v in values]
    else:
        return f"value_set does not match the {typ} column"
    missing = _missing(column, typ)
    inside = f"{quote(column)} in ({', '.join(items)})" if items else "false"
    return Compiled(exp, kw, missing, f"not {missing} and not ({inside})")


def _match_regex(exp, kw, columns):
    column = kw["column"]
    typ = columns[column]
    if not TEXT.match(typ) or not isinstance(kw.get("regex"), str):
        return f"regex on a {typ} column"
    pattern = re2_pattern(kw["regex"])
    if pattern is None or not _re2_compiles(pattern):
        return "the pattern has no RE2 equivalent here"
    missing = _missing(column, typ)
    return Compiled(
        exp,
        kw,
        missing,
        f"not {missing} and not regexp_matches({quote(column)}, {_literal(pattern)})",
    )


def _re2_compiles(pattern: str) -> bool:
    try:
        duckdb.connect().execute("select regexp_matches('', ?)", [pattern]).fetchall()
    except duckdb.Error:
        return False
    return True


def _pair_greater(exp, kw, columns):
    a, b = kw["column_A"], kw["column_B"]
    ta, tb = columns[a], columns[b]
    if NUMERIC.match(ta) and NUMERIC.match(tb):
        col_a, col_b = quote(a), quote(b)
    elif TEMPORAL.match(ta) and TEMPORAL.match(tb):
        col_a, col_b = f"cast({quote(a)} as timestamp)", f"cast({quote(b)} as timestamp)"
    else:
        return f"pair of {ta} and {tb} columns"
    ignore = kw.get("ignore_row_if", "both_values_are_missing")
    if ignore != "either_value_is_missing":
        # a pair with one missing side takes part: pandas compares NaN as False but raises
        # on a nullable integer's NA, failing the whole expectation; left to pandas
        return f"ignore_row_if {ignore!r}"
    missing = f"({_missing(a, ta)} or {_missing(b, tb)})"
    op = ">=" if kw.get("or_equal") else ">"
    return Compiled(exp, kw, missing, f"not {missing} and not ({col_a} {op} {col_b})")


_COMPILERS = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_match_regex": _match_regex,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair_greater,
}


def count_all(
    con: duckdb.DuckDBPyConnection,
    view: str,
    compiled: list[Compiled],
    keys: list[str],
    sample: int,
    columns: dict[str, str] | None = None,
) -> tuple[int, list[Counts]]:
    """The row count of ``view`` and, per expectation, missing and unexpected counts (one
    pass), then up to ``sample`` failing keys of the expectations with unexpected rows (the
    smallest keys; a second pass only when something failed)."""
    parts = ["count(*)"]
    for c in compiled:
        parts.append(f"count(*) filter (where {c.missing})")
        parts.append(f"count(*) filter (where {c.unexpected})")
    row = con.execute(f"select {', '.join(parts)} from {view}").fetchone()
    total = int(row[0])
    out = [
        Counts(
            element_count=total,
            missing_count=int(row[1 + 2 * i]) if c.reports_missing else 0,
            unexpected_count=int(row[2 + 2 * i]),
            sample=[],
        )
        for i, c in enumerate(compiled)
    ]
    failing = [i for i, n in enumerate(out) if n.unexpected_count]
    if keys and failing:
        types = columns or {}
        # a DATE key reads as pandas reads it (a timestamp), as in the chunked path's samples
        key = (
            "struct_pack("
            + ", ".join(
                f"{quote(k)} := cast({quote(k)} as timestamp)"
                if types.get(k) == "DATE"
                else f"{quote(k)} := {quote(k)}"
                for k in keys
            )
            + ")"
        )
        samples = con.execute(
            "select "
            + ", ".join(
                f"min({key}, {int(sample)}) filter (where {compiled[i].unexpected})"
                for i in failing
            )
            + f" from {view}"
        ).fetchone()
        for i, found in zip(failing, samples, strict=True):
            out[i].sample = [dict(k) for k in found or []]
    return total, out
