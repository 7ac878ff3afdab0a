"""Declarative vendor mappings (``mappings/*.yaml``): load, validate, and match files.

A mapping names the canonical entity it fills, how to recognise a file (file-name globs
and/or header columns), reader options, and one spec per canonical column. See
``pipelines/ingest/README.md`` for the full format. Shipped mappings live next to this
module; ``{home}/mappings/*.yaml`` override them by ``name`` or add new ones.
"""

from __future__ import annotations

import codecs
import difflib
import fnmatch
import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from pipelines.core.contract import ARROW_TYPES, Entity, entities, entity
from pipelines.core.settings import read_yaml_all
from pipelines.ingest import readers
from pipelines.ingest.readers import ReaderOptions

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
    "reading",
}
READINGS = ("primary", "additional")  # `reading: additional`: also read files another reads
READER_FORMATS = ("csv", "jsonl", "parquet", "xlsx")  # unless readers.FORMATS says more
DELIMITER_ALIASES = {"\\t": "\t", "tab": "\t", "TAB": "\t"}
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
    reading: str = "primary"  # "additional": one more reading of files another mapping reads

    @property
    def is_additional(self) -> bool:
        return self.reading == "additional"

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


class _Where:
    """Builds the one-line error of a mapping: file, mapping name, key, what is allowed."""

    def __init__(self, path: Path, name: str | None):
        self.path, self.name = path, name

    def __str__(self) -> str:
        return f"{self.path}: mapping {self.name!r}" if self.name else f"{self.path}"

    def error(self, key: str, problem: str, allowed: str = "") -> MappingError:
        tail = f" (allowed: {allowed})" if allowed else ""
        return MappingError(f"{self}: {key}: {problem}{tail}")


def _one_of(values) -> str:
    return ", ".join(str(v) for v in values)


def _regex(where: _Where, key: str, pattern) -> str:
    if not isinstance(pattern, str):
        raise where.error(key, f"{pattern!r} is not a regular expression", "a quoted regex")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise where.error(
            key, f"bad regular expression {pattern!r}: {exc}", "a Python regex"
        ) from None
    return pattern


def _zone(where: _Where, key: str, name) -> str:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise where.error(
            key, f"unknown time zone {name!r}", "an IANA name such as UTC or Europe/Paris"
        ) from None
    return str(name)


def _strings(where: _Where, key: str, value) -> tuple[str, ...]:
    items = _as_tuple(value)
    if any(isinstance(v, dict | list) for v in items):
        raise where.error(key, f"{value!r} is not a list of names", "a name or a list of names")
    return tuple(str(v) for v in items)


def _int(where: _Where, key: str, value, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(key, f"{value!r} is not a whole number", "an integer")
    if minimum is not None and value < minimum:
        raise where.error(key, f"{value!r} is below {minimum}", f"an integer >= {minimum}")
    return value


def _reader(where: _Where, spec) -> ReaderOptions:
    """``reader:`` options checked one by one, so a bad value names its key."""
    if spec is None:
        return ReaderOptions()
    known = [f for f in ReaderOptions.__dataclass_fields__ if f != "gzip"]
    if not isinstance(spec, dict):
        raise where.error("reader", f"{spec!r} is not a set of options", _one_of(known))
    spec = dict(spec)
    for key in spec:
        if key not in known:
            raise where.error(f"reader.{key}", "unknown reader option", _one_of(known))
    if spec.get("format") is not None:
        formats = tuple(getattr(readers, "FORMATS", READER_FORMATS))
        if spec["format"] not in formats:
            raise where.error(
                "reader.format", f"unknown format {spec['format']!r}", _one_of(formats)
            )
    if spec.get("delimiter") is not None:
        d = DELIMITER_ALIASES.get(spec["delimiter"], spec["delimiter"])
        if not isinstance(d, str) or len(d) != 1:
            raise where.error(
                "reader.delimiter",
                f"{spec['delimiter']!r} is not a single character",
                "one character such as ',' ';' '|', or a tab written \"\\t\" or tab",
            )
        spec["delimiter"] = d
    if spec.get("encoding") is not None:
        try:
            codecs.lookup(str(spec["encoding"]))
        except LookupError:
            raise where.error(
                "reader.encoding",
                f"unknown encoding {spec['encoding']!r}",
                "a Python codec name such as utf-8, utf-16, latin-1, cp1252",
            ) from None
    for key in ("skip_rows", "chunk_rows"):
        if spec.get(key) is not None:
            _int(where, f"reader.{key}", spec[key], 0 if key == "skip_rows" else 1)
    for i, pattern in enumerate(_as_tuple(spec.get("footer_patterns"))):
        _regex(where, f"reader.footer_patterns[{i}]", pattern)
    if spec.get("summary_if_empty") is not None:
        spec["summary_if_empty"] = _strings(
            where, "reader.summary_if_empty", spec["summary_if_empty"]
        )
    try:
        return ReaderOptions.from_dict(spec)
    except (TypeError, ValueError) as exc:
        raise where.error("reader", str(exc), _one_of(known)) from None


def _column(where: _Where, ent: Entity, col: str, cspec) -> ColumnSpec:
    key = f"columns.{col}"
    if col not in ent.column_names:
        close = difflib.get_close_matches(col, ent.column_names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise where.error(key, f"{ent.name} has no column {col!r}{hint}", _one_of(ent.column_names))
    if not isinstance(cspec, dict):  # shorthand `column: Source Name`
        if isinstance(cspec, list):
            cspec = {"from": cspec}
        elif cspec is None:
            raise where.error(key, "empty", "a source column name or {from|const|expr: ...}")
        else:
            cspec = {"from": cspec}
    for k in cspec:
        if k not in COLUMN_KEYS:
            raise where.error(f"{key}.{k}", "unknown key", _one_of(sorted(COLUMN_KEYS)))
    unit = cspec.get("unit")
    if unit is not None and unit not in UNITS and unit not in TIME_UNITS:
        raise where.error(
            f"{key}.unit", f"unknown unit {unit!r}", _one_of([*UNITS, *sorted(TIME_UNITS)])
        )
    ctype = cspec.get("type")
    if ctype is not None and ctype not in ARROW_TYPES:
        raise where.error(f"{key}.type", f"unknown type {ctype!r}", _one_of(ARROW_TYPES))
    if cspec.get("timezone") is not None:
        _zone(where, f"{key}.timezone", cspec["timezone"])
    if cspec.get("from_regex") is not None:
        _regex(where, f"{key}.from_regex", cspec["from_regex"])
    formats = _strings(where, f"{key}.format", cspec.get("format"))
    rng = cspec.get("range")
    if rng is not None and not (
        isinstance(rng, list | tuple)
        and len(rng) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng)
    ):
        raise where.error(f"{key}.range", f"{rng!r} is not [low, high]", "two numbers")
    if cspec.get("map") is not None and not isinstance(cspec["map"], dict):
        raise where.error(f"{key}.map", f"{cspec['map']!r} is not a mapping", "{from: to, ...}")
    if cspec.get("expr") is not None and not isinstance(cspec["expr"], str):
        raise where.error(f"{key}.expr", "not a text", "one scalar SQL expression")
    if not isinstance(cspec.get("required", False), bool):
        raise where.error(f"{key}.required", f"{cspec['required']!r}", "true or false")
    return ColumnSpec(
        name=col,
        sources=_strings(where, f"{key}.from", cspec.get("from")),
        from_regex=cspec.get("from_regex"),
        const=cspec.get("const"),
        var=cspec.get("var"),
        default=cspec.get("default"),
        expr=cspec.get("expr"),
        type=ctype,
        formats=formats,
        unit=unit,
        value_map={str(k): v for k, v in (cspec.get("map") or {}).items()},
        timezone=cspec.get("timezone"),
        range=tuple(rng) if rng else None,
        required=bool(cspec.get("required", False)),
    )


def parse_mapping(spec: dict, path: Path) -> Mapping:
    """One mapping document → :class:`Mapping`; a bad one raises a one-line MappingError
    naming the file, the mapping, the key and what is allowed."""
    if not isinstance(spec, dict):
        raise _Where(path, None).error("document", f"{str(spec)[:60]!r}", "a YAML mapping")
    where = _Where(path, str(spec["name"]) if spec.get("name") else None)
    for key in spec:
        if key not in MAPPING_KEYS:
            raise where.error(str(key), "unknown key", _one_of(sorted(MAPPING_KEYS)))
    for key in ("name", "entity", "source_system", "columns"):
        if key not in spec:
            raise where.error(
                key, "missing", "every mapping needs name, entity, source_system, columns"
            )
    if spec["entity"] not in entities():
        raise where.error("entity", f"unknown entity {spec['entity']!r}", _one_of(entities()))
    ent = entity(spec["entity"])
    match = spec.get("match") or {}
    if not isinstance(match, dict) or set(match) - {"filename", "columns"}:
        raise where.error("match", f"{match!r}", "filename: [globs], columns: [header names]")
    if not isinstance(spec["columns"], dict) or not spec["columns"]:
        raise where.error("columns", "not a set of columns", "canonical column: source or spec")
    columns = {col: _column(where, ent, col, c) for col, c in spec["columns"].items()}
    decimal = spec.get("decimal")
    if decimal not in (None, ".", ","):
        raise where.error("decimal", f"{decimal!r}", "'.' or ','")
    drift = spec.get("drift")
    if drift not in (None, "evolve", "ignore", "reject"):
        raise where.error("drift", f"{drift!r}", "evolve, ignore, reject")
    reading = spec.get("reading", "primary")
    if reading not in READINGS:
        raise where.error("reading", f"{reading!r}", _one_of(READINGS))
    for key in ("header_vars", "preamble_vars", "ordinals"):
        if not isinstance(spec.get(key) or {}, dict):
            raise where.error(key, f"{spec[key]!r}", "{name: ...}")
    for key in ("header_vars", "preamble_vars"):
        for var, pattern in (spec.get(key) or {}).items():
            _regex(where, f"{key}.{var}", pattern)
    nulls = spec.get("null_values")
    return Mapping(
        name=str(spec["name"]),
        entity_name=ent.name,
        source_system=str(spec["source_system"]),
        path=path,
        description=str(spec.get("description", "")).strip(),
        priority=_int(where, "priority", spec.get("priority", 0)),
        filename_globs=_strings(where, "match.filename", match.get("filename")),
        match_columns=_strings(where, "match.columns", match.get("columns")),
        reader=_reader(where, spec.get("reader")),
        timezone=_zone(where, "timezone", spec.get("timezone", "UTC")),
        decimal=decimal,
        null_values=DEFAULT_NULLS + _strings(where, "null_values", nulls)
        if nulls
        else DEFAULT_NULLS,
        header_vars=dict(spec.get("header_vars") or {}),
        preamble_vars=dict(spec.get("preamble_vars") or {}),
        fill_down=_fill_down(spec.get("fill_down"), where),
        ordinals={
            k: _strings(where, f"ordinals.{k}", v) for k, v in (spec.get("ordinals") or {}).items()
        },
        columns=columns,
        aggregate=_aggregate(spec.get("aggregate"), ent, where),
        ignore_columns=_strings(where, "ignore_columns", spec.get("ignore_columns")),
        drift=drift,
        reading=reading,
    )


def _fill_down(spec: dict | None, where: _Where) -> dict:
    if not spec:
        return {}
    if not isinstance(spec, dict) or not spec.get("by") or not spec.get("columns"):
        raise where.error("fill_down", "needs `by` and `columns`", "{by: [cols], columns: [cols]}")
    return {
        "by": list(_strings(where, "fill_down.by", spec["by"])),
        "columns": list(_strings(where, "fill_down.columns", spec["columns"])),
    }


def _aggregate(spec, ent: Entity, where: _Where) -> dict | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) - {"by", "sum"}:
        raise where.error("aggregate", f"{spec!r}", "{by: [columns], sum: [columns]}")
    for key in ("by", "sum"):
        for col in _strings(where, f"aggregate.{key}", spec.get(key)):
            if col not in ent.column_names:
                raise where.error(
                    f"aggregate.{key}", f"{ent.name} has no column {col!r}", "its canonical columns"
                )
    return spec


def load_mappings(home: Path | None = None) -> dict[str, Mapping]:
    """Shipped mappings, overridden (same ``name``) or extended by ``{home}/mappings``.

    Strict: the first invalid mapping raises its MappingError. Ingest uses
    :func:`load_mapping_set`, which keeps going and rejects only that mapping's files.
    """
    mset = load_mapping_set(home)
    if mset.broken:
        raise MappingError(mset.broken[0].error)
    return mset.mappings


# ---------------------------------------------------------------------------- the set


@dataclass
class BrokenMapping:
    """An invalid mapping: its error, and as much of its ``match`` as could be read, so that
    the files it was written for are rejected with its error and every other file loads."""

    path: Path
    error: str
    name: str | None = None
    entity_name: str | None = None
    priority: int = 0
    filename_globs: tuple[str, ...] = ()
    match_columns: tuple[str, ...] = ()
    reading: str = "primary"

    @property
    def is_additional(self) -> bool:
        return self.reading == "additional"

    def match(self, filename: str, header: list[str]) -> tuple[bool, float, list[str]]:
        return Mapping.match(self, filename, header)  # same rule, on the readable part

    @classmethod
    def from_document(cls, doc, path: Path, error: str) -> BrokenMapping:
        """The readable part of a broken document (nothing when even ``match`` is bad)."""
        out = cls(path=path, error=error)
        if not isinstance(doc, dict):
            return out
        out.name = str(doc["name"]) if doc.get("name") else None
        out.entity_name = doc.get("entity") if doc.get("entity") in entities() else None
        if doc.get("reading") in READINGS:
            out.reading = doc["reading"]
        try:
            out.priority = int(doc.get("priority", 0))
            match = doc.get("match") or {}
            globs = tuple(str(g) for g in _as_tuple(match.get("filename")))
            cols = tuple(str(c) for c in _as_tuple(match.get("columns")))
        except (TypeError, ValueError, AttributeError):
            return out
        out.filename_globs, out.match_columns = globs, cols
        return out


@dataclass
class MappingSet:
    """Every mapping of a home (shipped + ``{home}/mappings``), valid and broken.

    ``hash`` is the sha256 of every mapping file's content: the manifest records it, and a
    file rejected under another set is retried. ``additional_hash`` covers only the
    ``reading: additional`` mappings: when it changes, loaded files are re-matched for the
    new readings (see pipelines/ingest/README.md, "One file, several entities").
    """

    mappings: dict[str, Mapping] = field(default_factory=dict)
    broken: list[BrokenMapping] = field(default_factory=list)
    hash: str = ""
    additional_hash: str = ""

    def candidates(self) -> list[Mapping | BrokenMapping]:
        return [*self.mappings.values(), *self.broken]

    def could_add_reading(self, filename: str) -> bool:
        """Whether a ``reading: additional`` mapping might match ``filename`` (by its globs
        alone; a mapping without globs might match any file)."""
        base = Path(filename).name.lower()
        for m in self.candidates():
            if m.is_additional and (
                not m.filename_globs
                or any(fnmatch.fnmatch(base, g.lower()) for g in m.filename_globs)
            ):
                return True
        return False


def _mapping_files(home: Path | None) -> list[Path]:
    dirs = [SHIPPED_DIR] + ([Path(home) / "mappings"] if home is not None else [])
    out = []
    for d in dirs:
        if d.is_dir():
            out += sorted([*d.glob("*.yaml"), *d.glob("*.yml")])
    return out


def read_mapping_file(path: Path) -> list[Mapping | BrokenMapping]:
    """Every mapping document of one YAML file, each parsed or broken (never raises)."""
    try:
        docs = [doc for doc in read_yaml_all(path.read_bytes().decode("utf-8")) if doc]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = " ".join(str(exc).strip().splitlines()[:3])[:300]
        return [BrokenMapping(path, f"{path}: invalid YAML: {first}")]
    out: list[Mapping | BrokenMapping] = []
    for doc in docs:
        try:
            out.append(parse_mapping(doc, path))
        except MappingError as exc:
            out.append(BrokenMapping.from_document(doc, path, str(exc)))
    return out


def load_mapping_set(home: Path | None = None) -> MappingSet:
    """Load every mapping file; an invalid one becomes a :class:`BrokenMapping` (with its
    one-line error) instead of stopping the load. A later file's mapping of the same
    ``name`` replaces an earlier one (a user mapping overrides a shipped one), broken or not.
    """
    mset = MappingSet()
    digest, extra = hashlib.sha256(), hashlib.sha256()
    by_name: dict[str, Mapping | BrokenMapping] = {}
    unnamed: list[BrokenMapping] = []
    for path in _mapping_files(home):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        for m in read_mapping_file(path):
            if m.name is None:
                unnamed.append(m)
                continue
            by_name[m.name] = m
    for name, m in by_name.items():
        if isinstance(m, BrokenMapping):
            mset.broken.append(m)
        else:
            mset.mappings[name] = m
        if m.is_additional:
            extra.update(f"{m.path.name}\0{name}\0".encode() + m.path.read_bytes())
    mset.broken += unnamed
    mset.hash = digest.hexdigest()
    has_additional = any(m.is_additional for m in by_name.values())
    mset.additional_hash = extra.hexdigest() if has_additional else ""
    return mset


# ---------------------------------------------------------------------------- matching


@dataclass
class MatchResult:
    mapping: Mapping | None
    candidates: list[tuple[str, float]]
    reason: str = ""
    entity_name: str | None = None  # the reading's entity (also when it is rejected)
    additional: bool = False  # a ``reading: additional`` reading
    name: str | None = None  # the mapping chosen, also when it is invalid


def _hits(candidates, filename: str, header: list[str]) -> list[tuple[object, float]]:
    hits = []
    for m in candidates:
        ok, score, _ = m.match(filename, header)
        if ok:
            hits.append((m, score))
    hits.sort(key=lambda h: -h[1])
    return hits


def _best(hits, cands, reason_none: str, additional: bool = False) -> MatchResult:
    """The top hit; a tie is ambiguous; a broken top hit rejects with its error."""
    top = [m for m, s in hits if s == hits[0][1]]
    ent = top[0].entity_name
    if len(top) > 1:
        names = ", ".join(str(m.name) for m in top)
        return MatchResult(
            None,
            cands,
            f"ambiguous: mappings {names} match equally well; give one a higher `priority` "
            "or a narrower `match`",
            ent,
            additional,
        )
    if isinstance(top[0], BrokenMapping):
        error = f"invalid mapping: {top[0].error}"
        return MatchResult(None, cands, error, ent, additional, top[0].name)
    return MatchResult(top[0], cands, "", ent, additional, top[0].name)


def choose_mapping(mappings, filename: str, header: list[str]) -> MatchResult:
    """The single best primary mapping for a file, or a reason why there is none (or a tie).

    ``mappings`` is a name → Mapping dict or a :class:`MappingSet` (whose broken mappings
    then match too: a file whose best match is broken is rejected with that mapping's error).
    """
    pool = mappings.candidates() if isinstance(mappings, MappingSet) else mappings.values()
    hits = _hits([m for m in pool if not m.is_additional], filename, header)
    cands = [(str(m.name), s) for m, s in hits]
    if not hits:
        shown = ", ".join(header[:12]) + (" ..." if len(header) > 12 else "")
        reason = f"no mapping matches (header: {shown})"
        broken = [b for b in getattr(mappings, "broken", []) if not b.match_columns]
        if broken:  # a mapping whose `match` could not be read might have been meant
            reason += "; note: " + "; ".join(b.error for b in broken[:3])
        return MatchResult(None, cands, reason)
    return _best(hits, cands, "")


def choose_readings(mset: MappingSet, filename: str, header: list[str]) -> list[MatchResult]:
    """Every reading of a file: the best primary mapping, plus, per other entity, the best
    ``reading: additional`` mapping that matches. One reading per entity (the primary's
    entity is never read twice). No reading at all → one result with the reason."""
    primary = choose_mapping(mset, filename, header)
    out = [primary] if primary.candidates else []  # matched, or tied, or its mapping broken
    extra = _hits([m for m in mset.candidates() if m.is_additional], filename, header)
    taken = {primary.entity_name} if out else set()
    for ent in dict.fromkeys(m.entity_name for m, _ in extra):
        if ent in taken:
            continue
        hits = [(m, s) for m, s in extra if m.entity_name == ent]
        out.append(_best(hits, [(str(m.name), s) for m, s in hits], "", additional=True))
        taken.add(ent)
    return out or [primary]


def closest_mappings(
    mset: MappingSet, filename: str, header: list[str], n: int = 3
) -> list[tuple[str, str, list[str], bool]]:
    """The ``n`` mappings nearest to matching a file: (name, entity, match columns the
    header lacks, file name matches its globs), most header columns in common first."""
    have = {norm(h) for h in header}
    base = Path(filename).name.lower()
    rows = []
    for m in mset.mappings.values():
        if not m.match_columns:
            continue
        missing = [c for c in m.match_columns if norm(c) not in have]
        wanted = {norm(s) for spec in m.columns.values() for s in spec.sources}
        common = len(wanted & have) + len(m.match_columns) - len(missing)
        glob_ok = not m.filename_globs or any(
            fnmatch.fnmatch(base, g.lower()) for g in m.filename_globs
        )
        rows.append((-common, len(missing), not glob_ok, m.name, m.entity_name, missing, glob_ok))
    rows.sort()
    return [(r[3], r[4], r[5], r[6]) for r in rows[:n] if r[0] < 0]
