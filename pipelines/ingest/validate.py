"""``segmart mappings validate``: every mapping checked before any file is read.

Parsing (``mapping.parse_mapping``) already refuses unknown keys, unknown columns, bad
options (a multi-character ``delimiter``, an unknown encoding, time zone, unit or type, a
bad regex). What only DuckDB can tell — an ``expr`` that does not bind (unknown function or
column), a date ``format`` it cannot parse — is found here by compiling each mapping's typing
SQL over an empty chunk whose columns are the source columns the mapping names. A mapping
that fails joins ``MappingSet.broken`` with a one-line error naming its file, the column key
and what is allowed; the ingest then rejects only the files that mapping matches.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.ingest.mapping import (
    SHIPPED_DIR,
    BrokenMapping,
    ColumnSpec,
    Mapping,
    MappingError,
    MappingSet,
    load_mapping_set,
    read_mapping_file,
)
from pipelines.ingest.readers import ROW_COLUMN
from pipelines.ingest.transform import _SRC_REF, LINEAGE_COLUMNS, compile_sql, make_plan


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"enable_external_access": False, "threads": 1})
    con.execute("SET TimeZone = 'UTC'")
    return con


def _header(mapping: Mapping) -> list[str]:
    """Every source column the mapping names (as a file that fits it would have them)."""
    names: list[str] = list(mapping.match_columns)
    for spec in mapping.columns.values():
        names += list(spec.sources)
        for quoted, bare in _SRC_REF.findall(spec.expr or ""):
            names.append(quoted.replace('""', '"') if quoted else bare)
    for cols in mapping.ordinals.values():
        names += list(cols)
    names += list(mapping.fill_down.get("by", [])) + list(mapping.fill_down.get("columns", []))
    return [n for n in dict.fromkeys(names) if n not in mapping.ordinals]


def _compile_error(con, mapping: Mapping) -> str | None:
    """DuckDB's error when the mapping's typing SQL runs on an empty chunk, else None."""
    header = _header(mapping)
    try:
        plan = make_plan(mapping, header)
        columns = [*header, *mapping.ordinals]
        sql = compile_sql(plan, [ROW_COLUMN, *LINEAGE_COLUMNS, *columns])
    except (MappingError, ValueError, KeyError) as exc:
        return str(exc)
    fields = [
        pa.field(ROW_COLUMN, pa.int64()),
        pa.field("__file", pa.string()),
        pa.field("__hash", pa.string()),
        pa.field("__at", pa.timestamp("us")),
    ] + [pa.field(c, pa.string()) for c in columns]
    con.register("chunk", pa.schema(fields).empty_table())
    try:
        con.sql(sql).fetchall()
    except duckdb.Error as exc:
        return str(exc).splitlines()[0]
    finally:
        con.unregister("chunk")
    return None


def _plain(spec: ColumnSpec) -> ColumnSpec:
    """A column spec with nothing DuckDB could refuse: its sources only."""
    return dataclasses.replace(spec, expr=None, formats=(), const=spec.const, type=None)


def compile_check(mapping: Mapping, con=None) -> str | None:
    """None when the mapping's SQL compiles; else one line naming the file, the mapping,
    the column key at fault (``columns.x.expr`` / ``columns.x.format``) and DuckDB's word."""
    own = con is None
    con = _con() if own else con
    try:
        error = _compile_error(con, mapping)
        if error is None:
            return None
        base = {n: _plain(s) for n, s in mapping.columns.items() if s.expr is None}
        for name, spec in mapping.columns.items():  # which column's expr or format it is
            if spec.expr is None and not spec.formats:
                continue
            trial = dataclasses.replace(mapping, columns={**base, name: spec})
            found = _compile_error(con, trial)
            if found is not None:
                key = f"columns.{name}.{'expr' if spec.expr is not None else 'format'}"
                allowed = (
                    'one scalar DuckDB expression over the canonical columns and src."Column"'
                    if spec.expr is not None
                    else "strptime formats such as %Y-%m-%d, %d/%m/%Y %H:%M"
                )
                return (
                    f"{mapping.path}: mapping {mapping.name!r}: {key}: {found} (allowed: {allowed})"
                )
        return f"{mapping.path}: mapping {mapping.name!r}: {error}"
    finally:
        if own:
            con.close()


def _is_shipped(mapping: Mapping) -> bool:
    return Path(mapping.path).resolve().parent == SHIPPED_DIR


def deep_check(mset: MappingSet, only_user: bool = False) -> MappingSet:
    """Move every mapping whose SQL does not compile to ``mset.broken`` (in place).

    ``only_user``: the shipped mappings are left out (tests compile them all; the ingest
    then spends no time on them).
    """
    con = _con()
    try:
        for name, mapping in list(mset.mappings.items()):
            if only_user and _is_shipped(mapping):
                continue
            error = compile_check(mapping, con)
            if error is not None:
                del mset.mappings[name]
                mset.broken.append(
                    BrokenMapping(
                        path=mapping.path,
                        error=error,
                        name=mapping.name,
                        entity_name=mapping.entity_name,
                        priority=mapping.priority,
                        filename_globs=mapping.filename_globs,
                        match_columns=mapping.match_columns,
                        reading=mapping.reading,
                    )
                )
    finally:
        con.close()
    return mset


def validate_mappings(home: Path | str | None = None) -> tuple[MappingSet, list[str]]:
    """(the set, one line per invalid mapping): ``segmart mappings validate``."""
    mset = deep_check(load_mapping_set(Path(home) if home is not None else None))
    return mset, [b.error for b in mset.broken]


def validate_file(path: Path | str) -> tuple[list[Mapping], list[str]]:
    """(valid mappings, one line per invalid one) of one YAML file, e.g. a draft written by
    ``segmart mappings new`` before it is moved into ``{home}/mappings``."""
    path = Path(path)
    found = read_mapping_file(path)
    mset = MappingSet(
        mappings={str(m.name): m for m in found if isinstance(m, Mapping)},
        broken=[m for m in found if isinstance(m, BrokenMapping)],
    )
    deep_check(mset)
    return list(mset.mappings.values()), [b.error for b in mset.broken]
