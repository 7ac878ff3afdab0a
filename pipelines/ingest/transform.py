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
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from pipelines.ingest.contract import DUCKDB_TYPES, Column
from pipelines.ingest.mapping import UNITS, ColumnSpec, Mapping, MappingError, norm

DATE_FORMATS = ("%Y%m%d", "%Y/%m/%d", "%d.%m.%Y", "%b %d, %Y", "%B %d, %Y", "%d %b %Y")
TS_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y%m%d %H:%M:%S", "%b %d, %Y %I:%M %p")
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
) -> Plan:
    plan = Plan(mapping=mapping, header=list(header))
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
                    "is in the header"
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


def compile_sql(plan: Plan, chunk_columns: list[str]) -> str:
    """SQL over table ``chunk`` returning canonical + lineage columns and ``_reason``.

    Lineage (``_source_file``, ``_file_hash``, ``_ingested_at``) comes from the chunk's
    ``__file``/``__hash``/``__at`` columns, not from literals, so one compiled statement
    serves every file whose plan and columns are the same (the loader types many small
    files in one query). The quarantined row's original record is built by the loader.
    """
    m = plan.mapping
    ent = m.entity
    present = set(chunk_columns)
    src_cols = [c for c in chunk_columns if not c.startswith("__")]  # not __row, lineage
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
        reasons.append(
            f"CASE WHEN {vname} IS NOT NULL AND {q(col.name)} IS NULL THEN "
            f"printf('bad %s ''%s'' in %s', {lit(ctype)}, left({vname}, 80), {lit(col.name)}) END"
        )
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
    return f"""
WITH s AS (SELECT __row AS _source_row, {src_struct} AS src, * EXCLUDE (__row) FROM chunk),
v AS (SELECT _source_row, __file, __hash, __at, src{"".join(", " + x for x in values)} FROM s),
n AS (SELECT *{"".join(", " + x for x in numbers)} FROM v),
t AS (SELECT *{"".join(", " + x for x in typed)} FROM n),
e AS (SELECT *{"".join(", " + x for x in derived)} FROM t),
r AS (SELECT *, {reason_sql} AS _reason FROM e)
SELECT {", ".join(final)}, {", ".join(lineage_sql)}, _reason
FROM r
"""


def _value_sql(spec: ColumnSpec, plan: Plan, present: set[str]) -> str:
    """The cleaned source string of a column (NULL when absent / a null token)."""
    if spec.const is not None:
        return f"CAST({lit(_text(spec.const))} AS VARCHAR)"
    # list_contains, not IN (...): DuckDB plans a long IN list as a join, slow to plan
    nulls = "[" + ", ".join(lit(v) for v in plan.mapping.null_values) + "]"
    parts = [
        f"CASE WHEN list_contains({nulls}, trim({q(c)})) THEN NULL ELSE trim({q(c)}) END"
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
            return f"CAST(try_strptime({v}, {_fmt_list(spec.formats)}) AS DATE)"
        return (
            f"coalesce(TRY_CAST({v} AS DATE), CAST(TRY_CAST({v} AS TIMESTAMP) AS DATE), "
            f"CAST(try_strptime({v}, {_fmt_list(DATE_FORMATS)}) AS DATE))"
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
        parsed = f"try_strptime({v}, {_fmt_list(spec.formats)})"
        if any("%z" in f or "%Z" in f for f in spec.formats):
            return f"timezone('UTC', {parsed})"
        return to_utc(parsed)
    naive = f"coalesce(TRY_CAST({v} AS TIMESTAMP), try_strptime({v}, {_fmt_list(TS_FORMATS)}))"
    return (
        f"(CASE WHEN regexp_matches({v}, '\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?\\s*(Z|[+-]\\d\\d(:?\\d\\d)?)$') "
        f"THEN timezone('UTC', TRY_CAST(regexp_replace({v}, '\\s+([+-]\\d\\d:?\\d\\d|Z)$', '\\1') "
        f"AS TIMESTAMPTZ)) ELSE {to_utc(naive)} END)"
    )


def _rule_sql(col: Column, m: Mapping, has_value: bool) -> list[str]:
    out = []
    spec = m.columns.get(col.name)
    if col.required or (spec is not None and spec.required):  # a bad value has its own reason
        cond = f"{q(col.name)} IS NULL" + (
            f" AND {q('v__' + col.name)} IS NULL" if has_value else ""
        )
        out.append(f"CASE WHEN {cond} THEN {lit('missing required ' + col.name)} END")
    rng = CONTRACT_RANGES.get((m.entity_name, col.name)) or (spec.range if spec else None)
    if rng:
        lo, hi = rng
        out.append(
            f"CASE WHEN {q(col.name)} NOT BETWEEN {lo!r} AND {hi!r} THEN "
            f"printf('%s out of range [{lo}, {hi}] in {col.name}', CAST({q(col.name)} AS VARCHAR)) END"
        )
    return out
