"""Declarative vendor mappings (``mappings/*.yaml``): load, validate, and match files.

A mapping names the canonical entity it fills, how to recognise a file (file-name globs
and/or header columns), reader options, and one spec per canonical column. See
``pipelines/ingest/README.md`` for the full format. Shipped mappings live next to this
module; ``{home}/mappings/*.yaml`` override them by ``name`` or add new ones.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipelines.ingest.contract import Entity, entity
from pipelines.ingest.readers import ReaderOptions
from pipelines.settings import read_yaml_all

SHIPPED_DIR = Path(__file__).resolve().parent / "mappings"
UNITS = {
    "micros": 1e-6,
    "cents": 0.01,
    "percent": 0.01,
    "thousands": 1e3,
    "millions": 1e6,
    "billions": 1e9,
}
TIME_UNITS = {"epoch_s", "epoch_ms", "epoch_us"}
COLUMN_KEYS = {
    "from",
    "from_regex",
    "const",
    "var",
    "default",
    "expr",
    "type",
    "format",
    "unit",
    "map",
    "timezone",
    "range",
    "required",
}
MAPPING_KEYS = {
    "name",
    "entity",
    "source_system",
    "description",
    "priority",
    "match",
    "reader",
    "timezone",
    "decimal",
    "null_values",
    "header_vars",
    "preamble_vars",
    "ordinals",
    "fill_down",
    "columns",
    "aggregate",
    "ignore_columns",
    "drift",
}
DEFAULT_NULLS = ("", "-", "--", "N/A", "n/a", "#N/A", "NULL", "null", "None", "nan", "NaN")


class MappingError(ValueError):
    """A mapping file is invalid (raised when mappings are loaded)."""


_SPACES = re.compile(r"[\s_]+")


@functools.lru_cache(maxsize=8192)  # the same few hundred header names, for every file
def norm(name: str) -> str:
    """Header names compare case-, space- and underscore-insensitively."""
    return _SPACES.sub(" ", str(name)).strip().lower()


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    sources: tuple[str, ...] = ()
    from_regex: str | None = None
    const: object = None
    var: str | None = None
    default: object = None
    expr: str | None = None
    type: str | None = None
    formats: tuple[str, ...] = ()
    unit: str | None = None
    value_map: dict = field(default_factory=dict)
    timezone: str | None = None
    range: tuple[float, float] | None = None
    required: bool = False  # the mapping requires a value the contract leaves optional

    @property
    def is_derived(self) -> bool:
        return self.expr is not None


@dataclass
class Mapping:
    name: str
    entity_name: str
    source_system: str
    path: Path
    description: str = ""
    priority: int = 0
    filename_globs: tuple[str, ...] = ()
    match_columns: tuple[str, ...] = ()
    reader: ReaderOptions = field(default_factory=ReaderOptions)
    timezone: str = "UTC"
    decimal: str | None = None  # None: "," when the file is ;-delimited, else "."
    null_values: tuple[str, ...] = DEFAULT_NULLS
    header_vars: dict[str, str] = field(default_factory=dict)
    preamble_vars: dict[str, str] = field(default_factory=dict)
    fill_down: dict = field(default_factory=dict)  # {by: [cols], columns: [cols]}
    ordinals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    aggregate: dict | None = None
    ignore_columns: tuple[str, ...] = ()
    drift: str | None = None

    @property
    def entity(self) -> Entity:
        return entity(self.entity_name)

    @property
    def drift_policy(self) -> str:
        return self.drift or self.entity.drift

    def match(self, filename: str, header: list[str]) -> tuple[bool, float, list[str]]:
        """(matches, score, missing header columns). Globs and columns must all hold."""
        base = Path(filename).name.lower()
        glob_ok = any(fnmatch.fnmatch(base, g.lower()) for g in self.filename_globs)
        if self.filename_globs and not glob_ok:
            return False, 0.0, []
        have = {norm(h) for h in header}
        missing = [c for c in self.match_columns if norm(c) not in have]
        if missing:
            return False, 0.0, missing
        if not self.filename_globs and not self.match_columns:
            return False, 0.0, []
        score = 1000 * self.priority + 10 * len(self.match_columns) + (5 if glob_ok else 0)
        return True, float(score), []

    def is_ignored(self, column: str) -> bool:
        return any(fnmatch.fnmatch(column.lower(), p.lower()) for p in self.ignore_columns)


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)


def parse_mapping(spec: dict, path: Path) -> Mapping:
    where = f"mapping {path.name}"
    unknown = set(spec) - MAPPING_KEYS
    if unknown:
        raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("name", "entity", "source_system", "columns"):
        if key not in spec:
            raise MappingError(f"{where}: missing {key!r}")
    ent = entity(spec["entity"])
    match = spec.get("match") or {}
    columns: dict[str, ColumnSpec] = {}
    for col, cspec in spec["columns"].items():
        if col not in ent.column_names:
            raise MappingError(f"{where}: {ent.name} has no column {col!r}")
        if not isinstance(cspec, dict):  # shorthand `column: Source Name`
            cspec = {"from": cspec}
        bad = set(cspec) - COLUMN_KEYS
        if bad:
            raise MappingError(f"{where}: column {col}: unknown keys {sorted(bad)}")
        unit = cspec.get("unit")
        if unit and unit not in UNITS and unit not in TIME_UNITS:
            raise MappingError(f"{where}: column {col}: unknown unit {unit!r}")
        rng = cspec.get("range")
        columns[col] = ColumnSpec(
            name=col,
            sources=tuple(str(s) for s in _as_tuple(cspec.get("from"))),
            from_regex=cspec.get("from_regex"),
            const=cspec.get("const"),
            var=cspec.get("var"),
            default=cspec.get("default"),
            expr=cspec.get("expr"),
            type=cspec.get("type"),
            formats=_as_tuple(cspec.get("format")),
            unit=unit,
            value_map={str(k): v for k, v in (cspec.get("map") or {}).items()},
            timezone=cspec.get("timezone"),
            range=tuple(rng) if rng else None,
            required=bool(cspec.get("required", False)),
        )
    decimal = spec.get("decimal")
    if decimal not in (None, ".", ","):
        raise MappingError(f"{where}: decimal must be '.' or ','")
    drift = spec.get("drift")
    if drift not in (None, "evolve", "ignore", "reject"):
        raise MappingError(f"{where}: drift must be evolve, ignore or reject")
    nulls = spec.get("null_values")
    return Mapping(
        name=str(spec["name"]),
        entity_name=ent.name,
        source_system=str(spec["source_system"]),
        path=path,
        description=str(spec.get("description", "")).strip(),
        priority=int(spec.get("priority", 0)),
        filename_globs=tuple(_as_tuple(match.get("filename"))),
        match_columns=tuple(str(c) for c in _as_tuple(match.get("columns"))),
        reader=ReaderOptions.from_dict(spec.get("reader")),
        timezone=str(spec.get("timezone", "UTC")),
        decimal=decimal,
        null_values=DEFAULT_NULLS + tuple(str(v) for v in nulls) if nulls else DEFAULT_NULLS,
        header_vars=dict(spec.get("header_vars") or {}),
        preamble_vars=dict(spec.get("preamble_vars") or {}),
        fill_down=_fill_down(spec.get("fill_down"), where),
        ordinals={k: tuple(_as_tuple(v)) for k, v in (spec.get("ordinals") or {}).items()},
        columns=columns,
        aggregate=spec.get("aggregate"),
        ignore_columns=tuple(_as_tuple(spec.get("ignore_columns"))),
        drift=drift,
    )


def _fill_down(spec: dict | None, where: str) -> dict:
    if not spec:
        return {}
    if not spec.get("by") or not spec.get("columns"):
        raise MappingError(f"{where}: fill_down needs `by` and `columns`")
    return {"by": list(_as_tuple(spec["by"])), "columns": list(_as_tuple(spec["columns"]))}


def load_mappings(home: Path | None = None) -> dict[str, Mapping]:
    """Shipped mappings, overridden (same ``name``) or extended by ``{home}/mappings``."""
    out: dict[str, Mapping] = {}
    dirs = [SHIPPED_DIR]
    if home is not None:
        dirs.append(Path(home) / "mappings")
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            try:
                docs = [doc for doc in read_yaml_all(path.read_text()) if doc]
            except yaml.YAMLError as exc:
                raise MappingError(f"mapping {path}: invalid YAML: {exc}") from exc
            for doc in docs:
                m = parse_mapping(doc, path)
                out[m.name] = m
    return out


@dataclass
class MatchResult:
    mapping: Mapping | None
    candidates: list[tuple[str, float]]
    reason: str = ""


def choose_mapping(mappings: dict[str, Mapping], filename: str, header: list[str]) -> MatchResult:
    """The single best mapping for a file, or a reason why there is none (or a tie)."""
    hits = []
    for m in mappings.values():
        ok, score, _ = m.match(filename, header)
        if ok:
            hits.append((m, score))
    hits.sort(key=lambda h: -h[1])
    cands = [(m.name, s) for m, s in hits]
    if not hits:
        shown = ", ".join(header[:12]) + (" ..." if len(header) > 12 else "")
        return MatchResult(None, cands, f"no mapping matches (header: {shown})")
    top = [m for m, s in hits if s == hits[0][1]]
    if len(top) > 1:
        names = ", ".join(m.name for m in top)
        return MatchResult(
            None,
            cands,
            f"ambiguous: mappings {names} match equally well; give one a higher `priority` "
            "or a narrower `match`",
        )
    return MatchResult(hits[0][0], cands)
