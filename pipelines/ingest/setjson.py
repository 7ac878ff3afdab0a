"""Set-based JSON lines (GA4 BigQuery export): one DuckDB ``read_ndjson_objects`` scan per
group of files, the GA4 nesting flattened in SQL to the cells :func:`jsonl.flatten_record`
gives.

Two scans, both over every waiting file of a run at once:

1. **Probe** (:func:`json_probes`, before the mapping is chosen): per file, its lines grouped
   by *shape* — ``json_structure`` of the line plus the keys and lengths of its GA4 key/value
   lists — with the first line of each shape. Only those first lines are flattened in Python
   (:func:`flatten_paths`): they give the file's header (the union of flattened names in
   first-seen order, exactly as the Python reader's first chunk does) and where each name
   comes from (a JSON path, or the key of an ``event_params`` / ``user_properties`` item).
   The same scan checks that DuckDB saw every byte of the file as the Python reader would:
   the lines' bytes plus one newline each must add up to the file's size (``ISIZE`` for
   gzip), so a blank line, a ``\\r`` or blanks around an object send the file to Python;
   every line must be an object; the decompressed size stays under the gzip limit.
2. **Typing** (:class:`JsonScan`, in :mod:`setbased`): the cells the mapping reads, each
   extracted from one parse of the line (``json_extract`` of a list of paths), typed by the
   mapping's compiled SQL. A value whose text DuckDB would write otherwise than Python's
   ``str()`` (a double outside 1e-4..1e15 or written with an exponent, an integer beyond
   64 bits, an object or list where a scalar was read, a key/value list with an item that is
   not ``{key, value}``) marks its row ``__unsafe``: the whole file is then read again by the
   Python reader (``read_by_why``).

A file that cannot be read this way (invalid JSON on some line, another encoding, more lines
than one chunk of the Python reader, a shape the flattening does not cover) is read by the
Python reader alone, with the reason in ``read_by_why``.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.ingest.jsonl import GA4_VALUE_FIELDS, KEY_VALUE_PREFIX, flatten_record
from pipelines.ingest.readers import (
    DEFAULT_CHUNK_ROWS,
    SAMPLE_BYTES,
    GzipLimits,
    _open_binary,
    _safe_name,
    detect_encoding,
    detect_format,
)
from pipelines.ingest.transform import lit

log = logging.getLogger(__name__)

KV_LISTS = tuple(KEY_VALUE_PREFIX)  # top-level GA4 key/value lists read in SQL
MAX_PROBE_FILES = 500  # JSON files probed together (then planned and offered to the scan)
_BAD_KEY = set('"\\') | {chr(i) for i in range(32)}
_GLOB = re.compile(r"[*?\[\]{}]")


class Unsupported(Exception):
    """A shape the SQL flattening does not reproduce exactly."""


@dataclass
class JsonProbe:
    """What the probe scan found in one JSON-lines file."""

    header: list[str]  # the Python reader's header (safe names, first-seen order)
    rows: int
    specs: dict[str, tuple] = field(default_factory=dict)  # safe name → where its cell is
    compression: str | None = None


def json_candidate(path: Path, limits: GzipLimits) -> bool:
    """A JSON-lines file (plain or gzip) in UTF-8 without BOM: the probe scan may read it."""
    if _GLOB.search(str(path)):
        return False
    try:
        fmt, compression = detect_format(path, limits)
        if fmt != "jsonl" or compression not in (None, "gzip"):
            return False
        stream, _ = _open_binary(path, limits)
        with stream:
            sample = stream.read(SAMPLE_BYTES)
    except Exception:  # noqa: BLE001 - the Python reader says what is wrong with the file
        return False
    return detect_encoding(sample) == "utf-8" and not sample.startswith(b"\xef\xbb\xbf")


def compression_of(path: Path) -> str | None:
    with open(path, "rb") as f:
        return "gzip" if f.read(2) == b"\x1f\x8b" else None


def reader_sql(paths: list[Path], compression: str | None) -> str:
    files = "[" + ", ".join(lit(str(Path(p).resolve())) for p in paths) + "]"
    return (
        f"read_ndjson_objects({files}, compression = {lit(compression or 'none')}, "
        "ignore_errors = false)"
    )


def _kv_sig(name: str) -> str:
    p = f"$.{json.dumps(name)}"
    return (
        f"coalesce(CAST(json_extract_string(json, '{p}[*].key') AS VARCHAR), '') || '#' || "
        f"coalesce(CAST(json_array_length(json, '{p}') AS VARCHAR), '') || '#' || "
        f"coalesce(CAST(len(json_extract(json, '{p}[*].value')) AS VARCHAR), '')"
    )


def _probe_sql(paths: list[Path], compression: str | None) -> str:
    sig = " || '|' || ".join(
        ["CAST(json_structure(json) AS VARCHAR)", *(_kv_sig(k) for k in KV_LISTS)]
    )
    return (
        "WITH s AS (SELECT CAST(file_index AS BIGINT) AS fi, row_number() OVER () AS g, json "
        f"FROM {reader_sql(paths, compression)}), "
        "t AS (SELECT fi, g, json, json_type(json) AS jt, "
        f"strlen(CAST(json AS VARCHAR)) + 1 AS nbytes, {sig} AS sig FROM s) "
        "SELECT fi, count(*), sum(nbytes), min(g), arg_min(CAST(json AS VARCHAR), g), "
        "count_if(jt <> 'OBJECT') FROM t GROUP BY fi, sig"
    )


def _expected_bytes(path: Path, compression: str | None) -> int | None:
    """The decompressed size modulo 2**32 for gzip (the trailer's ISIZE), else the size."""
    if compression is None:
        return path.stat().st_size
    with open(path, "rb") as f:
        f.seek(-4, 2)
        return struct.unpack("<I", f.read(4))[0]


def json_probes(
    con: duckdb.DuckDBPyConnection,
    paths: list[Path],
    compression: str | None,
    limits: GzipLimits,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> dict[str, JsonProbe | str]:
    """{path: its probe, or why the Python reader reads it} for JSON-lines files of one
    compression, by one DuckDB scan on ``con`` (a scan that fails is halved until the file
    is found)."""
    out: dict[str, JsonProbe | str] = {}
    todo = [list(paths)]
    while todo:
        part = todo.pop()
        if not part:
            continue
        try:
            rows = con.execute(_probe_sql(part, compression)).fetchall()
        except duckdb.Error as exc:
            if len(part) == 1:
                out[str(part[0])] = f"DuckDB cannot read it: {str(exc).splitlines()[0]}"
            else:
                todo += [part[: len(part) // 2], part[len(part) // 2 :]]
            continue
        out.update(_file_probes(part, rows, compression, limits, chunk_rows))
    return out


def _file_probes(paths, rows, compression, limits, chunk_rows) -> dict[str, JsonProbe | str]:
    per: dict[int, list] = {}
    for fi, n, nbytes, first, line, not_obj in rows:
        per.setdefault(fi, []).append((first, n, nbytes, line, not_obj))
    out: dict[str, JsonProbe | str] = {}
    for fi, path in enumerate(paths):
        shapes = sorted(per.get(fi, []))
        n = sum(s[1] for s in shapes)
        nbytes = sum(s[2] for s in shapes)
        try:
            out[str(path)] = _probe_one(path, shapes, n, nbytes, compression, limits)
        except Unsupported as exc:
            out[str(path)] = str(exc)
            continue
        if n > chunk_rows:
            out[str(path)] = f"more than {chunk_rows:,} lines (the reader's chunk)"
    return out


def _probe_one(path, shapes, n, nbytes, compression, limits) -> JsonProbe:
    if n == 0:
        raise Unsupported("no JSON lines")
    if any(s[4] for s in shapes):
        raise Unsupported("lines that are not JSON objects")
    if compression and nbytes - 1 > limits.limit(path.stat().st_size):
        raise Unsupported("expands past the gzip limit")
    expected = _expected_bytes(path, compression)
    wrap = (1 << 32) if compression else None
    if not any(_same(nbytes - d, expected, wrap) for d in (0, 1)):  # last newline optional
        raise Unsupported("blank lines, carriage returns or blanks around the JSON objects")
    names: dict[str, tuple] = {}
    for _first, _n, _b, line, _ in shapes:
        obj = json.loads(line)
        paths = flatten_paths(obj)
        if list(paths) != list(flatten_record(obj)):  # never expected: the twin drifted
            raise Unsupported("a line the SQL flattening reads otherwise")
        for name, spec in paths.items():
            if names.setdefault(name, spec) != spec:
                raise Unsupported(f"column {name!r} comes from two places")
    safe: dict[str, tuple] = {}
    for raw, spec in names.items():  # two keys that sanitise alike: the first one wins
        safe.setdefault(_safe_name(raw) or "column", spec)
    return JsonProbe(header=list(safe), rows=n, specs=safe, compression=compression)


def _same(a: int, b: int, wrap: int | None) -> bool:
    return (a % wrap == b) if wrap else a == b


def flatten_paths(obj: dict, path: tuple = (), prefix: str = "") -> dict[str, tuple]:
    """:func:`jsonl.flatten_record`'s names (same order) → where each cell comes from:
    ``("path", keys)`` a scalar, ``("kv", list key, item key)`` a GA4 key/value item,
    ``("text", keys)`` a list kept as JSON text (not read in SQL)."""
    out: dict[str, tuple] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or _BAD_KEY & set(key):
            raise Unsupported("a key with quotes, backslashes or control characters")
        name = f"{prefix}{key}"
        where = (*path, key)
        if isinstance(value, dict):
            _put(out, flatten_paths(value, where, f"{name}_"))
        elif isinstance(value, list) and value and all(_is_kv(v) for v in value):
            if path or key not in KV_LISTS:
                raise Unsupported(f"a key/value list at {'.'.join(where)}")
            head = KEY_VALUE_PREFIX[key]
            for item in value:
                if not isinstance(item["key"], str) or _BAD_KEY & set(item["key"]):
                    raise Unsupported(f"a {key} key that is not plain text")
                kv_name = f"{head}_{item['key']}"
                if out.get(kv_name, ("kv",))[0] != "kv":
                    raise Unsupported(f"column {kv_name!r} comes from two places")
                out[kv_name] = ("kv", key, item["key"])  # a repeated key: the last one wins
        elif isinstance(value, list):
            _put(out, {name: ("text", where)})
        else:
            _put(out, {name: ("path", where)})
    return out


def _put(out: dict, items: dict) -> None:
    for name, spec in items.items():
        if name in out:  # two paths give one name: the last one would win
            raise Unsupported(f"column {name!r} comes from two places")
        out[name] = spec


def _is_kv(item) -> bool:
    return isinstance(item, dict) and "key" in item and "value" in item


# ---------------------------------------------------------------------------- cell SQL


def json_path(keys: tuple) -> str:
    return "$." + ".".join(json.dumps(k) for k in keys)


def cell_sql(s: str, t: str) -> str:
    """The text ``str()`` gives a JSON scalar, from its ``json_extract_string`` text ``s`` and
    its ``json_type`` ``t`` (NULL for null; see :func:`cell_unsafe_sql`)."""
    return (
        f"CASE {t} WHEN 'DOUBLE' THEN CAST(TRY_CAST({s} AS DOUBLE) AS VARCHAR) "
        f"WHEN 'OBJECT' THEN NULL WHEN 'ARRAY' THEN NULL ELSE {s} END"
    )


def cell_unsafe_sql(s: str, t: str) -> str:
    """A value whose text :func:`cell_sql` does not promise equal to Python's ``str()``:
    objects and lists, doubles written with an exponent or outside [1e-4, 1e15) (Python and
    DuckDB switch to exponents at other places), integers beyond 64 bits (typed DOUBLE)."""
    d = f"TRY_CAST({s} AS DOUBLE)"
    return (
        f"coalesce(CASE {t} WHEN 'OBJECT' THEN TRUE WHEN 'ARRAY' THEN TRUE "
        f"WHEN 'DOUBLE' THEN NOT (regexp_full_match({s}, '-?[0-9]+\\.[0-9]+') AND "
        f"(abs({d}) >= 1e-4 AND abs({d}) < 1e15 OR {d} = 0)) ELSE FALSE END, FALSE)"
    )


def kv_item_sql(kv: str, key: str) -> str:
    """The value (JSON) of the last item of key/value list ``kv`` whose key is ``key``."""
    return f"(list_filter({kv}, lambda x: x.key = {lit(key)})[-1]).value"


def kv_fields_sql(v: str) -> list[str]:
    """The texts and types of a GA4 item value ``v`` (JSON) and of its value fields, in the
    order :func:`kv_value_sql` reads them (materialised once per row)."""
    fields = ", ".join(lit("$." + f) for f in GA4_VALUE_FIELDS)
    return [
        f"json_extract_string({v}, [{fields}])",
        f"json_type({v}, [{fields}])",
        f"json_extract_string({v}, '$')",
        f"json_type({v})",
    ]


def kv_value_sql(fs: str, ft: str, vs: str, vt: str) -> tuple[str, str]:
    """(text, unsafe) of a GA4 item value from its :func:`kv_fields_sql` columns: the first
    non-null value field, or the value itself when it is no object."""
    n = len(GA4_VALUE_FIELDS)
    text = (
        f"CASE WHEN {vt} = 'OBJECT' THEN coalesce("
        + ", ".join(cell_sql(f"{fs}[{i + 1}]", f"{ft}[{i + 1}]") for i in range(n))
        + f") ELSE {cell_sql(vs, vt)} END"
    )
    unsafe = (
        f"(CASE WHEN {vt} = 'OBJECT' THEN "
        + " OR ".join(cell_unsafe_sql(f"{fs}[{i + 1}]", f"{ft}[{i + 1}]") for i in range(n))
        + f" ELSE {cell_unsafe_sql(vs, vt)} END)"
    )
    return text, unsafe


def kv_list_unsafe_sql(v: str) -> str:
    """A non-empty list that is not all ``{key: text, value}`` items (Python keeps it as JSON
    text, SQL would pivot it)."""
    n = f"json_array_length({v})"
    return (
        f"coalesce(json_type({v}) = 'ARRAY' AND {n} > 0 AND NOT ("
        f"len(json_extract({v}, '$[*].key')) = {n} AND "
        f"len(json_extract({v}, '$[*].value')) = {n} AND "
        f"len(list_filter(json_extract({v}, '$[*].key'), lambda k: json_type(k) <> 'VARCHAR')) = 0), "
        "FALSE)"
    )


def record_of(header: list[str], line: str) -> dict[str, str | None]:
    """The quarantine ``record`` of one line: every header column, as the Python reader's
    chunk holds it (absent keys null, names sanitised, the first of two alike wins)."""
    flat = flatten_record(json.loads(line))
    cells: dict[str, str | None] = {}
    for raw, value in flat.items():
        cells.setdefault(_safe_name(raw) or "column", value)
    return {h: cells.get(h) for h in header}
