"""Compile a mapping + a file header into one DuckDB SQL statement that types a chunk.

Each chunk of string cells (see ``readers``) is registered in a sandboxed in-memory DuckDB
(no file system access) as ``chunk`` and turned into canonical columns:

1. ``from`` columns are coalesced in order (first non-null wins), null tokens (``--``,
   ``N/A``, ...) become NULL, value ``map`` s apply, then ``var`` (captured from the header,
   e.g. the currency of ``Amount spent (INR)``) and ``default`` fill what is still null;
   ``const`` replaces everything.
2. The string is typed per the contract (or the column's ``type``): numbers accept
   thousands separators, decimal commas, ``%`` and ``(123)`` negatives, then ``unit``
   scales them; dates/timestamps use ``format`` (strptime) or ISO, offsets are honoured and
   naive times are read in the mapping's ``timezone`` and stored as UTC.
3. ``expr`` columns are DuckDB SQL expressions evaluated over the typed canonical columns
   and ``src."Source column"`` (the raw strings), e.g. ``quantity * unit_price``.
4. A row whose value could not be typed or that misses a required column gets a
   ``_reason`` ("bad date '32/13/2024' in ordered_at; missing required order_id") and goes
   to quarantine (the loader adds its original record as JSON).

Identifiers and literals from files are always quoted/escaped (``q`` / ``lit``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.contract import DUCKDB_TYPES, Column
from pipelines.ingest.mapping import UNITS, ColumnSpec, Mapping, MappingError, norm

DATE_FORMATS = ("%Y%m%d", "%Y/%m/%d", "%d.%m.%Y", "%b %d, %Y", "%B %d, %Y", "%d %b %Y")
TS_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y%m%d %H:%M:%S", "%b %d, %Y %I:%M %p")
DATED = ("date", "timestamp")
TRUE_TOKENS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_TOKENS = ("false", "f", "no", "n", "0", "0.0")
# Contract rules that no mapping can switch off (see comments in entities.yaml).
CONTRACT_RANGES = {("nps_responses", "score"): (0, 10)}
_FORBIDDEN = re.compile(
    r";|--|/\*|\b(select|from|attach|detach|copy|pragma|install|load|create|insert|update|"
    r"delete|drop|alter|call|export|import|set|read_\w+|getenv|query|query_table)\b",
    re.IGNORECASE,
)


def q(name: str) -> str:
    """Quote an identifier (any text is safe: embedded quotes are doubled)."""
    return '"' + str(name).replace('"', '""') + '"'


def lit(value) -> str:
    """A SQL literal for a Python value (strings escaped by doubling quotes)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


_LITERALS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def check_expr(expr: str, where: str) -> str:
    """Allow a single scalar expression only: no statements, sub-queries or table functions."""
    if _FORBIDDEN.search(_LITERALS.sub("''", expr)):  # keywords inside literals are fine
        raise MappingError(f"{where}: expr may only be a scalar SQL expression: {expr!r}")
    return expr


@dataclass
class Plan:
    """How one file's header maps onto the entity (before any row is typed)."""

    mapping: Mapping
    header: list[str]
    sources: dict[str, list[str]] = field(default_factory=dict)  # canonical → source columns
    vars: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # optional columns with no source
    missing_required: list[str] = field(default_factory=list)  # messages
    unmapped: list[str] = field(default_factory=list)  # header columns no spec uses
    ignored: list[str] = field(default_factory=list)  # unmapped but listed in ignore_columns
    decimal: str = "."
    date_window: DateWindow | None = None  # None: the default window (config ingest.date_*)
    date_order: DateOrderEvidence = field(default_factory=lambda: DateOrderEvidence())

    @property
    def drift_notes(self) -> list[str]:
        notes = []
        if self.unmapped:
            action = {"evolve": "kept in _extra", "ignore": "dropped", "reject": "rejected"}
            policy = self.mapping.drift_policy
            notes.append(f"unmapped columns ({action[policy]}): {', '.join(self.unmapped)}")
        if self.missing:
            notes.append(f"mapped columns absent from the file (null): {', '.join(self.missing)}")
        return notes


def _capture(out: dict, var: str, pattern: str, texts: list[str]) -> None:
    rx = re.compile(pattern)
    for text in texts:
        m = rx.search(text)
        if m:
            out[var] = m.group(1) if m.groups() else m.group(0)
            return


_SRC_REF = re.compile(r'src\.(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*))')


def referenced_columns(mapping: Mapping, header: list[str]) -> list[str]:
    """Source columns a chunk must have for the SQL to bind (absent ones become NULL)."""
    by_norm = {norm(h): h for h in header}
    names: list[str] = []
    for spec in mapping.columns.values():
        names += [by_norm.get(norm(s), s) for s in spec.sources]
        for quoted, bare in _SRC_REF.findall(spec.expr or ""):
            names.append(quoted.replace('""', '"') if quoted else bare)
    for cols in mapping.ordinals.values():
        names += [by_norm.get(norm(c), c) for c in cols]
    names += [by_norm.get(norm(c), c) for c in mapping.fill_down.get("columns", [])]
    return list(dict.fromkeys(n for n in names if n and n not in mapping.ordinals))


def make_plan(
    mapping: Mapping,
    header: list[str],
    delimiter: str | None = None,
    preamble: list[str] | None = None,
    date_window: DateWindow | None = None,
) -> Plan:
    window = date_window or _CONFIGURED_WINDOW.get() or DateWindow.default()
    plan = Plan(mapping=mapping, header=list(header), date_window=window)
    plan.decimal = mapping.decimal or ("," if delimiter == ";" else ".")
    by_norm: dict[str, str] = {}
    for h in header:
        by_norm.setdefault(norm(h), h)
    for var, pattern in mapping.header_vars.items():
        _capture(plan.vars, var, pattern, header)
    for var, pattern in mapping.preamble_vars.items():
        _capture(plan.vars, var, pattern, preamble or [])
    used: set[str] = set()
    for col in mapping.entity.columns:
        spec = mapping.columns.get(col.name)
        if spec is None:
            continue
        found = [h for s in spec.sources if (h := _find(s, header, by_norm))]
        if spec.from_regex:
            rx = re.compile(spec.from_regex)
            found += [h for h in header if rx.search(h) and h not in found]
        plan.sources[col.name] = found
        used.update(found)
        if (spec.type or col.type) in DATED and not spec.expr:
            plan.date_order.pairs += [
                (col.name, fa, fb, True) for fa, fb in day_month_pairs(spec.formats)
            ] + [(col.name, fa, fb, False) for fa, fb in unlisted_swaps(spec.formats)]
        if spec.expr:
            used.update(h for h in header if h in spec.expr)
        fallback = (
            spec.const is not None
            or spec.default is not None
            or spec.expr is not None
            or (spec.var is not None and spec.var in plan.vars)
        )
        wanted = spec.sources or spec.from_regex
        if wanted and not found and not fallback:
            if col.required:
                names = ", ".join(spec.sources) or f"/{spec.from_regex}/"
                plan.missing_required.append(
                    f"required column {col.name}: none of its source columns ({names}) "
                    "is in the header" + (f"; {col.hint}" if col.hint else "")
                )
            else:
                plan.missing.append(col.name)
    for col in mapping.entity.columns:
        if col.required and col.name not in mapping.columns:
            plan.missing_required.append(
                f"required column {col.name}: mapping {mapping.name} does not map it"
            )
    for cols in mapping.ordinals.values():
        used.update(h for c in cols if (h := _find(c, header, by_norm)))
    for h in header:
        if h in used:
            continue
        (plan.ignored if mapping.is_ignored(h) else plan.unmapped).append(h)
    return plan


def _find(name: str, header: list[str], by_norm: dict[str, str]) -> str | None:
    return name if name in header else by_norm.get(norm(name))


# ---------------------------------------------------------------------------- SQL


LINEAGE_COLUMNS = ("__file", "__hash", "__at")  # chunk columns carrying each row's lineage


def compile_sql(
    plan: Plan, chunk_columns: list[str], source: str = "chunk", passthrough: tuple = ()
) -> str:
    """SQL over table ``chunk`` returning canonical + lineage columns and ``_reason``.

    ``source`` replaces the table ``chunk`` by a relation (the set-based ingest passes a
    DuckDB scan of many files); ``passthrough`` columns of it (``__``-prefixed) are carried
    through to the output unchanged.

    Lineage (``_source_file``, ``_file_hash``, ``_ingested_at``) comes from the chunk's
    ``__file``/``__hash``/``__at`` columns, not from literals, so one compiled statement
    serves every file whose plan and columns are the same (the loader types many small
    files in one query). The quarantined row's original record is built by the loader.
    """
    m = plan.mapping
    ent = m.entity
    present = set(chunk_columns)
    src_cols = [c for c in chunk_columns if not c.startswith("__")]  # not __row, lineage
    carried = "".join(", " + q(c) for c in passthrough)
    src_struct = "struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in src_cols) + ")"
    values, numbers, typed, derived, reasons = [], [], [], [], []
    for col in ent.columns:
        spec = m.columns.get(col.name)
        if spec is None or spec.expr is not None:
            continue
        if spec.sources and not plan.sources.get(col.name):
            # JSON keys are per record: a column absent in the first chunk may appear later
            plan.sources[col.name] = [s for s in spec.sources if s in present]
        vname = q(f"v__{col.name}")
        values.append(f"{_value_sql(spec, plan, present)} AS {vname}")
        ctype = spec.type or col.type
        if ctype in ("double", "int"):  # parsed once in its own stage, referenced by name
            nname = q(f"n__{col.name}")
            numbers.append(f"{_number_sql(vname, plan.decimal)} AS {nname}")
            typed.append(f"{_typed_number(nname, ctype, spec)} AS {q(col.name)}")
        else:
            typed.append(f"{_typed_sql(vname, ctype, spec, plan)} AS {q(col.name)}")
        bad = f"printf('bad %s ''%s'' in %s', {lit(ctype)}, left({vname}, 80), {lit(col.name)})"
        short_year = two_digit_year_sql(vname, spec.formats) if ctype in DATED else None
        if short_year:
            four = ", ".join(f for f in spec.formats if "%Y" in f)
            bad = (
                f"CASE WHEN {short_year} THEN printf('two-digit year ''%s'' in %s: %s "
                f"reads four-digit years only (add the %%y form if the file writes two digits)', "
                f"left({vname}, 80), {lit(col.name)}, {lit(four)}) ELSE {bad} END"
            )
        swaps = unlisted_swaps(spec.formats) if ctype in DATED else []
        if swaps:  # e.g. 13/2/2024 under %m/%d/%Y only: say it fits %d/%m/%Y
            hints = " ".join(
                f"WHEN {strict_parse_sql(vname, [fb])} IS NOT NULL THEN "
                f"{lit(f' (it fits {fb}, which the mapping does not list: day and month swapped?)')}"
                for _fa, fb in swaps
            )
            bad = (
                f"(CASE WHEN {vname} IS NULL THEN NULL ELSE {bad} || CASE {hints} ELSE '' END END)"
            )
        reasons.append(f"CASE WHEN {vname} IS NOT NULL AND {q(col.name)} IS NULL THEN {bad} END")
    for col in ent.columns:
        spec = m.columns.get(col.name)
        if spec is not None and spec.expr is not None:
            expr = check_expr(spec.expr, f"mapping {m.name}, column {col.name}")
            derived.append(
                f"TRY_CAST(({expr}) AS {DUCKDB_TYPES[spec.type or col.type]}) AS {q(col.name)}"
            )
    final = []
    for col in ent.columns:
        spec = m.columns.get(col.name)
        if spec is not None:
            final.append(f"CAST({q(col.name)} AS {DUCKDB_TYPES[col.type]}) AS {q(col.name)}")
        else:
            final.append(f"CAST(NULL AS {DUCKDB_TYPES[col.type]}) AS {q(col.name)}")
        has_value = spec is not None and spec.expr is None
        reasons += _rule_sql(col, m, has_value)
        if spec is not None:
            reasons += _window_sql(col, spec, plan)
    extra = "NULL"
    if m.drift_policy == "evolve" and plan.unmapped:
        keep = [c for c in plan.unmapped if c in present]
        if keep:
            extra = "to_json(struct_pack(" + ", ".join(f"{q(c)} := src.{q(c)}" for c in keep) + "))"
    lineage_sql = [
        "CAST(__file AS VARCHAR) AS _source_file",
        "_source_row",
        f"{lit(m.source_system)} AS _source_system",
        f"{lit(m.name)} AS _mapping",
        "CAST(__hash AS VARCHAR) AS _file_hash",
        "CAST(__at AS TIMESTAMP) AS _ingested_at",
        f"CAST({extra} AS VARCHAR) AS _extra",
    ]
    reason_sql = f"NULLIF(concat_ws('; ', {', '.join(reasons)}), '')" if reasons else "NULL"
    evidence = evidence_sql(plan)  # day/month order evidence (DateOrderEvidence)
    ev_cols = [q(f"_dm{k}") for k in range(len(plan.date_order.pairs))]
    ev_cols += [q(f"_dmv{k}") for k in range(len(plan.date_order.pairs))]
    return f"""
WITH s AS (SELECT __row AS _source_row, {src_struct} AS src, * EXCLUDE (__row) FROM {source}),
v AS (SELECT _source_row, __file, __hash, __at, src{carried}{"".join(", " + x for x in values)} FROM s),
n AS (SELECT *{"".join(", " + x for x in numbers)} FROM v),
t AS (SELECT *{"".join(", " + x for x in typed)} FROM n),
e AS (SELECT *{"".join(", " + x for x in derived)} FROM t),
r AS (SELECT *, {reason_sql} AS _reason{"".join(", " + x for x in evidence)} FROM e)
SELECT {", ".join(final)}, {", ".join(lineage_sql)}, _reason{"".join(", " + x for x in ev_cols)}{carried}
FROM r
"""


def _value_sql(spec: ColumnSpec, plan: Plan, present: set[str]) -> str:
    """The cleaned source string of a column (NULL when absent / a null token)."""
    if spec.const is not None:
        return f"CAST({lit(_text(spec.const))} AS VARCHAR)"
    parts = [
        f"CASE WHEN {null_token_sql(f'trim({q(c)})', plan.mapping.null_values)} THEN NULL "
        f"ELSE trim({q(c)}) END"
        for c in plan.sources.get(spec.name, [])
        if c in present
    ]
    value = f"coalesce({', '.join(parts)})" if parts else "CAST(NULL AS VARCHAR)"
    if spec.value_map:
        whens = " ".join(f"WHEN {lit(k)} THEN {lit(_text(v))}" for k, v in spec.value_map.items())
        value = f"(CASE {value} {whens} ELSE {value} END)"
    fill = []
    if spec.var is not None and spec.var in plan.vars:
        fill.append(lit(plan.vars[spec.var]))
    if spec.default is not None:
        fill.append(lit(_text(spec.default)))
    return f"coalesce({value}, {', '.join(fill)})" if fill else value


IN_LIST_MAX = 4  # DuckDB plans an IN list of 5 or more constants as a (mark) join


def null_token_sql(value: str, tokens) -> str:
    """``value`` is one of the null ``tokens``: IN lists of at most four constants each,
    joined by OR, which DuckDB evaluates as plain comparisons (a longer IN list is planned
    as a join against a table of the constants, slow to plan and to run)."""
    tokens = list(dict.fromkeys(tokens))
    if not tokens:
        return "FALSE"
    groups = [tokens[i : i + IN_LIST_MAX] for i in range(0, len(tokens), IN_LIST_MAX)]
    ins = [f"{value} IN ({', '.join(lit(t) for t in g)})" for g in groups]
    return ins[0] if len(ins) == 1 else "(" + " OR ".join(ins) + ")"


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _typed_sql(v: str, ctype: str, spec: ColumnSpec, plan: Plan) -> str:
    if ctype == "string":
        if spec.name == "email":
            return f"lower(trim({v}))"
        if spec.name == "domain":
            return (
                f"NULLIF(regexp_replace(regexp_replace(lower(trim({v})), "
                r"'^([a-z]+://)?(www\.)?', ''), '[/?#:].*$', ''), '')"
            )
        return v
    if ctype == "bool":
        t = "[" + ", ".join(lit(x) for x in TRUE_TOKENS) + "]"
        f = "[" + ", ".join(lit(x) for x in FALSE_TOKENS) + "]"
        return (
            f"(CASE WHEN list_contains({t}, lower({v})) THEN TRUE "
            f"WHEN list_contains({f}, lower({v})) THEN FALSE END)"
        )
    tz = spec.timezone or plan.mapping.timezone
    ZoneInfo(tz)  # raises for an unknown zone name
    if ctype == "date":
        if spec.formats:
            return f"CAST({strict_parse_sql(v, spec.formats)} AS DATE)"
        return (
            f"coalesce(TRY_CAST({v} AS DATE), CAST(TRY_CAST({v} AS TIMESTAMP) AS DATE), "
            f"CAST({strict_parse_sql(v, DATE_FORMATS)} AS DATE))"
        )
    if ctype == "timestamp":
        return _timestamp_sql(v, spec, tz)
    raise MappingError(f"unknown type {ctype!r}")


def _typed_number(n: str, ctype: str, spec: ColumnSpec) -> str:
    num = f"({n} * {UNITS[spec.unit]!r})" if spec.unit in UNITS else n
    if ctype == "double":
        return num
    return f"(CASE WHEN {num} = round({num}) THEN CAST({num} AS BIGINT) END)"


def _number_sql(v: str, decimal: str) -> str:
    """Text → DOUBLE: drop spaces/currency/%, ``(12)`` → -12, thousands separators, ``%``.

    Kept linear in ``v`` (each step wraps the previous once) so the expression stays small.
    """
    s = f"regexp_replace({v}, '[\\s\u00a0$€£¥₹%'']', '', 'g')"
    s = f"regexp_replace({s}, '^\\((.*)\\)$', '-\\1')"
    if decimal == ",":
        pattern, sep = "-?\\d{1,3}(\\.\\d{3})+(,\\d*)?", "."
    else:
        pattern, sep = "-?\\d{1,3}(,\\d{3})+(\\.\\d*)?", ","
    s = f"(CASE WHEN regexp_full_match({s}, '{pattern}') THEN replace({s}, '{sep}', '') ELSE {s} END)"
    if decimal == ",":
        s = f"replace({s}, ',', '.')"
    pct = f"(CASE WHEN contains({v}, '%') THEN 0.01 ELSE 1 END)"
    return f"(TRY_CAST({s} AS DOUBLE) * {pct})"


def _fmt_list(formats) -> str:
    return "[" + ", ".join(lit(f) for f in formats) + "]"


def _timestamp_sql(v: str, spec: ColumnSpec, tz: str) -> str:
    def to_utc(x: str) -> str:
        return x if tz == "UTC" else f"timezone('UTC', timezone({lit(tz)}, {x}))"

    if spec.unit in ("epoch_s", "epoch_ms", "epoch_us"):
        scale = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}[spec.unit]
        return f"make_timestamp(CAST(TRY_CAST({v} AS DOUBLE) * {scale} AS BIGINT))"
    if spec.formats:
        parsed = strict_parse_sql(v, spec.formats)
        if any("%z" in f or "%Z" in f for f in spec.formats):
            return f"timezone('UTC', {parsed})"
        return to_utc(parsed)
    naive = f"coalesce(TRY_CAST({v} AS TIMESTAMP), {strict_parse_sql(v, TS_FORMATS)})"
    return (
        f"(CASE WHEN regexp_matches({v}, '\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?\\s*(Z|[+-]\\d\\d(:?\\d\\d)?)$') "
        f"THEN timezone('UTC', TRY_CAST(regexp_replace({v}, '\\s+([+-]\\d\\d:?\\d\\d|Z)$', '\\1') "
        f"AS TIMESTAMPTZ)) ELSE {to_utc(naive)} END)"
    )


def _window_sql(col: Column, spec: ColumnSpec, plan: Plan) -> list[str]:
    """A parsed date outside the plausible window (a year 0010, 1899-12-30, 2099) is
    quarantined with the column, the value as written and the window."""
    ctype = spec.type or col.type
    window = plan.date_window or DateWindow.default()
    if ctype not in DATED or not window.applies(plan.mapping.entity_name, col.name):
        return []
    c = q(col.name)
    shown = f"CAST({c} AS VARCHAR)"
    if spec.expr is None:
        shown = f"left(coalesce({q('v__' + col.name)}, {shown}), 80) || {lit(' → ')} || {shown}"
    return [
        f"CASE WHEN CAST({c} AS DATE) NOT BETWEEN DATE '{window.lo}' AND DATE '{window.hi}' "
        f"THEN printf('{ctype} outside the plausible window [{window.lo}, {window.hi}] in "
        f"{col.name}: ''%s'' (config ingest.date_min / date_max)', {shown}) END"
    ]


def _rule_sql(col: Column, m: Mapping, has_value: bool) -> list[str]:
    out = []
    spec = m.columns.get(col.name)
    if col.required or (spec is not None and spec.required):  # a bad value has its own reason
        cond = f"{q(col.name)} IS NULL" + (
            f" AND {q('v__' + col.name)} IS NULL" if has_value else ""
        )
        reason = f"missing required {col.name}" + (f": {col.hint}" if col.hint else "")
        out.append(f"CASE WHEN {cond} THEN {lit(reason)} END")
    rng = CONTRACT_RANGES.get((m.entity_name, col.name)) or (spec.range if spec else None)
    if rng:
        lo, hi = rng
        out.append(
            f"CASE WHEN {q(col.name)} NOT BETWEEN {lo!r} AND {hi!r} THEN "
            f"printf('%s out of range [{lo}, {hi}] in {col.name}', CAST({q(col.name)} AS VARCHAR)) END"
        )
    return out


# ---------------------------------------------------------------------------- strict dates

DATE_WINDOW_MIN = date(1990, 1, 1)
DATE_WINDOW_YEARS_AHEAD = 1
# Columns whose real values may lie far outside the window (entity.column): not checked.
# accounts.created_at: exports without a record date map the founding year there (Maven CRM).
DATE_WINDOW_EXEMPT = (
    "accounts.created_at",
    "contacts.birth_date",
    "opportunities.contract_end_date",
)


@dataclass(frozen=True)
class DateWindow:
    """Plausible dates: a parsed date or timestamp outside [lo, hi] is quarantined.

    Config ``ingest.date_min`` (default 1990-01-01), ``ingest.date_max`` (a date; null =
    today + ``ingest.date_max_years_ahead`` years, default 1) and ``ingest.date_window_exempt``
    (``entity.column`` names the window does not apply to).
    """

    lo: date
    hi: date
    exempt: tuple[str, ...] = DATE_WINDOW_EXEMPT

    @classmethod
    def default(cls, today: date | None = None) -> DateWindow:
        return cls.from_config(None, today)

    @classmethod
    def from_config(cls, ingest: dict | None, today: date | None = None) -> DateWindow:
        ingest = ingest or {}
        today = today or date.today()
        lo = _as_date(ingest.get("date_min"), "ingest.date_min") or DATE_WINDOW_MIN
        hi = _as_date(ingest.get("date_max"), "ingest.date_max")
        if hi is None:
            years = ingest.get("date_max_years_ahead", DATE_WINDOW_YEARS_AHEAD)
            if not isinstance(years, int) or years < 0:
                raise ValueError("ingest.date_max_years_ahead must be a whole number >= 0")
            hi = _add_years(today, years)
        if lo > hi:
            raise ValueError(f"ingest.date_min {lo} is after ingest.date_max {hi}")
        exempt = ingest.get("date_window_exempt", DATE_WINDOW_EXEMPT) or ()
        return cls(lo, hi, tuple(str(x) for x in exempt))

    def applies(self, entity_name: str, column: str) -> bool:
        return f"{entity_name}.{column}" not in self.exempt


_CONFIGURED_WINDOW: ContextVar[DateWindow | None] = ContextVar("date_window", default=None)


@contextmanager
def configured_dates(ingest: dict | None) -> Iterator[DateWindow]:
    """Plans made inside use the window of this ``ingest:`` config block (a home's run)."""
    token = _CONFIGURED_WINDOW.set(DateWindow.from_config(ingest))
    try:
        yield _CONFIGURED_WINDOW.get()
    finally:
        _CONFIGURED_WINDOW.reset(token)


def _as_date(value, key: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"{key} must be a date (YYYY-MM-DD), not {value!r}") from exc


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


_DIRECTIVE = re.compile(r"%-?[A-Za-z%]|%|[^%]+")
_NUMERIC_WIDTH = {"m": 2, "d": 2, "H": 2, "I": 2, "M": 2, "S": 2, "j": 3, "e": 2}
_TEXT_RX = {
    "b": r"[A-Za-z]{3}\.?",
    "h": r"[A-Za-z]{3}\.?",
    "B": r"[A-Za-z]+",
    "a": r"[A-Za-z]{3}\.?",
    "A": r"[A-Za-z]+",
    "p": r"[AaPp]\.?[Mm]\.?",
    "z": r"(?:[+-]\d{2}:?\d{2}|Z)",
    "Z": r"\S+",
    "f": r"\d{1,9}",
    "g": r"\d{1,3}",
    "n": r"\d{1,9}",
    "%": "%",
}


def format_regex(fmt: str, year_digits: int = 4) -> str:
    """A strptime format as a full-match regex: ``%Y`` is exactly four digits (DuckDB's
    ``strptime`` reads ``12/1/10`` under ``%m/%d/%Y`` as year 0010), ``%y`` two, and
    numeric fields with no separator between them (``%Y%m%d``) have their fixed width.
    ``year_digits=2`` gives the regex of the same format written with a two-digit year."""
    tokens = _DIRECTIVE.findall(fmt)
    numeric = [t.startswith("%") and t[-1] in (*_NUMERIC_WIDTH, "Y", "y") for t in tokens]
    out = []
    for i, tok in enumerate(tokens):
        if not tok.startswith("%") or tok == "%":
            out += [r"\s+" if x.isspace() else re.escape(x) for x in re.findall(r"\s+|\S+", tok)]
            continue
        d = tok[-1]
        if d == "Y":
            out.append(rf"\d{{{year_digits}}}")
        elif d == "y":
            out.append(r"\d{2}")
        elif d in _NUMERIC_WIDTH:
            tight = (i > 0 and numeric[i - 1]) or (i + 1 < len(tokens) and numeric[i + 1])
            width = _NUMERIC_WIDTH[d]
            fixed = tight and not tok.startswith("%-")
            out.append(rf"\d{{{width}}}" if fixed else rf"\d{{1,{width}}}")
        else:
            out.append(_TEXT_RX.get(d, ".*?"))  # an unknown directive only loosens the guard
    return "".join(out)


def strict_parse_sql(v: str, formats) -> str:
    """``try_strptime`` with the first format (in order) whose shape the value has."""
    parts = [
        f"CASE WHEN regexp_full_match({v}, {lit(format_regex(f))}) "
        f"THEN try_strptime({v}, {lit(f)}) END"
        for f in formats
    ]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def two_digit_year_sql(v: str, formats) -> str | None:
    """A condition: the value has the shape of a ``%Y`` format but a two-digit year."""
    rxs = [format_regex(f, year_digits=2) for f in formats if "%Y" in f]
    if not rxs:
        return None
    return "(" + " OR ".join(f"regexp_full_match({v}, {lit(rx)})" for rx in rxs) + ")"


_SWAP = {"%d": "%m", "%m": "%d", "%-d": "%-m", "%-m": "%-d"}


def swap_day_month(fmt: str) -> str:
    return re.sub(r"%-?[dm]", lambda m: _SWAP[m.group(0)], fmt)


def day_month_pairs(formats) -> list[tuple[str, str]]:
    """Pairs of listed formats that differ only by the order of day and month."""
    pairs = []
    for i, fa in enumerate(formats):
        swapped = swap_day_month(fa)
        if swapped != fa:
            pairs += [(fa, fb) for fb in formats[i + 1 :] if fb == swapped]
    return pairs


def unlisted_swaps(formats) -> list[tuple[str, str]]:
    """(listed format, its day/month swap) where the swap is not listed: ``%m/%d/%Y`` alone
    → ``%d/%m/%Y``. Year-first formats (ISO order) are left out: nobody writes year-day-month."""
    return [
        (fa, swap_day_month(fa))
        for fa in formats
        if swap_day_month(fa) != fa
        and swap_day_month(fa) not in formats
        and not fa.lstrip().startswith(("%Y", "%y"))
    ]


@dataclass
class DateOrderEvidence:
    """Per file: values of a column that fit one, the other or both day/month orders listed.

    The typing SQL adds, for each pair of formats that differ only by day/month order, a
    code per row (``a``: fits the first only, ``b``: the second only, ``ab``: both, same
    date, ``ab!``: both, different dates) and the value; :meth:`add` counts them per chunk
    and :meth:`notes` words the evidence for the manifest and ``mappings check``.
    """

    pairs: list[tuple[str, str, str, bool]] = field(default_factory=list)  # col, fa, fb, listed
    counts: dict[int, Counter] = field(default_factory=dict)
    samples: dict[int, dict[str, list[str]]] = field(default_factory=dict)

    def add(self, out: pa.Table) -> None:
        for k in range(len(self.pairs)):
            name = f"_dm{k}"
            if name not in out.column_names:
                continue
            fit = out.filter(pc.is_valid(out[name]))  # values that fit either order
            codes, values = fit[name].to_pylist(), fit[f"_dmv{k}"].to_pylist()
            counts = self.counts.setdefault(k, Counter())
            samples = self.samples.setdefault(k, {})
            for code, value in zip(codes, values, strict=True):
                if code is None:
                    continue
                counts[code] += 1
                seen = samples.setdefault(code, [])
                if len(seen) < 3 and value not in seen:
                    seen.append(value)

    def notes(self) -> list[str]:
        out = []
        for k, (col, fa, fb, listed) in enumerate(self.pairs):
            c = self.counts.get(k, Counter())
            s = self.samples.get(k, {})
            if not (c["ab!"] if listed else c["b"]):
                continue

            def eg(code: str, s=s) -> str:
                return ", ".join(s.get(code, []))

            both = f"{c['ab!']} value(s) fit both with different dates (e.g. {eg('ab!')})"
            if not listed:
                verdict = (
                    f"{c['b']} value(s) fit only {fb}, which the mapping does not list "
                    f"(quarantined, e.g. {eg('b')})"
                )
                if c["a"]:
                    verdict += f"; {c['a']} value(s) fit only {fa} (e.g. {eg('a')})"
                if c["ab!"]:
                    verdict += f"; {both} were read with {fa}"
                if not c["a"]:
                    verdict += f": the file looks {fb}; list {fb} (first) in the mapping"
            elif c["a"] and c["b"]:
                verdict = (
                    f"inconsistent: {c['a']} value(s) fit only {fa} (e.g. {eg('a')}), "
                    f"{c['b']} only {fb} (e.g. {eg('b')}), {both}; read with {fa}"
                )
            elif c["b"]:
                verdict = (
                    f"the file looks {fb}: {c['b']} value(s) fit only {fb} (e.g. {eg('b')}), "
                    f"but {both} were read with {fa}, listed first: list {fb} first"
                )
            elif c["a"]:
                verdict = (
                    f"resolved as {fa}: {c['a']} value(s) fit only {fa} (e.g. {eg('a')}); {both}"
                )
            else:
                verdict = (
                    f"ambiguous: every value fits both {fa} and {fb}; {both}; read with "
                    f"{fa}, listed first: keep only the file's real format in the mapping"
                )
            out.append(f"day/month order of {col}: {verdict}")
        return out


def evidence_sql(plan: Plan) -> list[str]:
    """The ``_dm{k}`` / ``_dmv{k}`` columns of :class:`DateOrderEvidence` (stage ``v``)."""
    cols = []
    for k, (col, fa, fb, _listed) in enumerate(plan.date_order.pairs):
        v = q(f"v__{col}")
        pa_, pb = strict_parse_sql(v, [fa]), strict_parse_sql(v, [fb])
        code = (
            f"NULLIF(concat(CASE WHEN {pa_} IS NOT NULL THEN 'a' ELSE '' END, "
            f"CASE WHEN {pb} IS NOT NULL THEN 'b' ELSE '' END, "
            f"CASE WHEN {pa_} <> {pb} THEN '!' ELSE '' END), '')"
        )
        cols += [f"{code} AS {q(f'_dm{k}')}", f"left({v}, 40) AS {q(f'_dmv{k}')}"]
    return cols
