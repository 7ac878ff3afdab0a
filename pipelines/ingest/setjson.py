"""Set-based JSON lines (GA4 BigQuery export): one DuckDB ``read_json`` per group of files.

Opt-in (``run_ingest(home, json_set_based=True)``): measured slower than the vectorised
Python reader on the 2-core box (README, "JSON lines (GA4)").

Each line is parsed once, by DuckDB: the waiting files of one mapping (and compression) are
read by one ``read_json([...], format = 'newline_delimited', columns = {...})`` whose
``columns`` is the group's own structure (found by DuckDB's detection over the files, every
scalar leaf declared ``VARCHAR`` so that ``19`` stays ``19`` and ``19.0`` stays ``19.0``, as
Python's ``str()`` writes them). GA4's ``event_params`` / ``user_properties`` key/value lists
are pivoted by ``list_filter`` (the last item with the key wins, as in
:func:`jsonl.flatten_record`) into the ``param_<key>`` / ``user_property_<key>`` cells the
mapping reads, typed by the mapping's compiled SQL and split into raw / quarantine rows in
the same pass (:class:`JsonScan` in the machinery of :mod:`setbased`).

What the Python reader's output depends on besides the cells, and how it is recovered:

* **the header** (mapping choice, drift notes, quarantine records): every row carries a
  *shape* (a hash of which leaves are present and of the keys of its key/value lists); the
  first line of each shape of a file is flattened in Python (:func:`flatten_record`), which
  gives the file's columns in the Python reader's first-seen order. The file's mapping is
  then chosen again on this full header (the loader chose it on the first 2,000 lines) and
  the file is planned on it: a missing required column rejects the file, drift notes are
  the Python path's;
* **null vs absent**: a ``null`` anywhere but in a GA4 value field (``"int_value": null``)
  sends the file to the Python reader (found in the bytes);
* **lines**: a blank line, a carriage return, a line that is not ``{...}``, a BOM, invalid
  UTF-8 or more lines than the reader's chunk send the file to Python; invalid JSON fails the
  scan, which is halved until the file is found.

Before DuckDB sees a file, it is decompressed once in Python through the reader's bounded
stream (the decompression-bomb limit), which also gives its lines for the checks above and
for the few lines flattened in Python (shape representatives, quarantined rows).
"""

from __future__ import annotations

import itertools
import json
import logging
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.contract import QUARANTINE_SCHEMA
from pipelines.ingest.jsonl import (
    GA4_VALUE_FIELDS,
    KEY_VALUE_PREFIX,
    _value_field_nulls,
    flatten_record,
)
from pipelines.ingest.mapping import choose_readings, norm
from pipelines.ingest.readers import (
    DEFAULT_CHUNK_ROWS,
    ROW_COLUMN,
    _safe_name,
)
from pipelines.ingest.transform import _SRC_REF, LINEAGE_COLUMNS, compile_sql, lit, make_plan, q

log = logging.getLogger(__name__)
SAMPLE_ROWS = 20_480  # lines DuckDB's detection reads (DuckDB's default)
SAMPLE_FILES = 8  # files it reads them from (a buffer of 32 MB each)
LINE_BYTES = 700  # about a GA4 event line (estimates only)
_EMPTY_Q = QUARANTINE_SCHEMA.empty_table()


class Unsupported(Exception):
    """The group (or a file) holds a shape this path does not reproduce exactly."""


# ---------------------------------------------------------------------------- per file


def json_fallback(job) -> str | None:
    """Why the Python reader reads this JSON-lines reading (``None``: DuckDB may read it,
    once :func:`prepare` found nothing in its bytes)."""
    info, mapping = job.source.info, job.plan.mapping
    if job.plan.missing_required:
        return "a required column is not in the first lines (the Python reader reads them all)"
    if info.compression not in (None, "gzip"):
        return f"{info.compression}-compressed"
    if mapping.fill_down or mapping.ordinals:
        return "mapping uses fill_down or ordinals"
    if any(spec.from_regex for spec in mapping.columns.values()):
        return "mapping uses from_regex"
    if job.source.options.encoding not in (None, "utf-8"):
        return f"encoding {job.source.options.encoding}"
    for spec in mapping.columns.values():
        if spec.expr and _SRC_REF.sub("", spec.expr).find("src") >= 0:
            return "an expr reads the whole src"
    return None


def estimated_rows(job) -> int:
    """The lines of a file, from its (decompressed) size: the trigger of a scan only."""
    size = job.path.stat().st_size
    if job.source.info.compression == "gzip" and size >= 4:
        with open(job.path, "rb") as f:
            f.seek(-4, 2)
            size = max(size, int.from_bytes(f.read(4), "little"))  # ISIZE (mod 2**32)
    return max(1, size // LINE_BYTES)


def prepare(job) -> str | None:
    """Decompress the file once (within the gzip limit), check its bytes and keep its lines
    on the job (``json_lines``, ``json_keys``). Returns why the Python reader reads it."""
    try:
        data = _decompress(job.path, job.source.options.gzip)
    except (ValueError, OSError, zlib.error) as exc:  # the Python reader says it its way
        return f"cannot decompress: {exc}"
    why = _bytes_fallback(data)
    if why:
        return why
    n = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if n > DEFAULT_CHUNK_ROWS:
        return f"more than {DEFAULT_CHUNK_ROWS:,} lines (the reader's chunk)"
    # every line one object: `}` newline `{` between lines (a raw newline cannot be in a string)
    if not (data.startswith(b"{") and data.rstrip(b"\n").endswith(b"}")) or (
        data.count(b"}\n{") != n - 1 or data.endswith(b"\n\n")
    ):
        return "blank lines or blanks around a JSON object"
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    job.json_lines = lines
    job.json_keys = expected_keys(data)
    return None


def _decompress(path: Path, limits) -> bytes:
    """The file's bytes, gunzipped in one C call per member and never past the limit of
    the reader's decompression-bomb guard (anything odd: the Python reader decides)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    limit = limits.limit(len(raw))
    out: list[bytes] = []
    total = 0
    while raw:
        if raw[:2] != b"\x1f\x8b":
            raise ValueError("data after the gzip stream")
        d = zlib.decompressobj(wbits=31)
        chunk = d.decompress(raw, limit - total + 1)
        total += len(chunk)
        out.append(chunk)
        if total > limit:
            raise ValueError("expands past the gzip limit")
        if not d.eof:
            raise ValueError("truncated gzip data")
        raw = d.unused_data
    return b"".join(out)


def expected_keys(data: bytes) -> int:
    """The JSON keys of a file counted in its bytes: every ``":`` that is not an escaped
    quote's, less the nulls of GA4 value fields (DuckDB reads them as absent). Blanks before
    a colon or a key ending in a backslash only make the counts differ (then Python reads)."""
    nulls = _value_field_nulls(data) if b"null" in data else 0
    return data.count(b'":') - data.count(b'\\":') - nulls


def _bytes_fallback(data: bytes) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        return "byte order mark"
    if b"\r" in data:
        return "carriage returns"
    if b"\x00" in data:
        return "NUL bytes"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    nulls = data.count(b"null")
    if nulls and nulls != _value_field_nulls(data):
        return "null values (a null key is a column of its own in the Python reader)"
    return None


# ---------------------------------------------------------------------------- structure


class Node:
    """A column of the detected structure: a scalar leaf, a struct or a list."""

    def __init__(self, kind: str, children=None, json: bool = False):
        self.kind = kind  # leaf | struct | list
        self.children: list[tuple[str, Node]] | Node | None = children
        self.json = json  # DuckDB found mixed types (objects may hide among them)

    def sql_type(self) -> str:
        if self.kind == "leaf":
            return "VARCHAR"
        if self.kind == "list":
            return f"{self.children.sql_type()}[]"
        fields = ", ".join(f"{q(n)} {c.sql_type()}" for n, c in self.children)
        return f"STRUCT({fields})"

    def is_kv(self) -> bool:
        """A list of ``{key, value, ...}`` structs (GA4 ``event_params``)."""
        item = self.children
        return (
            self.kind == "list"
            and item.kind == "struct"
            and {"key", "value"} <= {n for n, _ in item.children}
        )


def _node(t) -> Node:
    if t.id == "struct":
        return Node("struct", [(n, _node(c)) for n, c in t.children])
    if t.id == "list":
        return Node("list", _node(t.children[0][1]))
    if t.id in ("map", "union", "array"):
        raise Unsupported(f"a column of type {t}")
    return Node("leaf", json=str(t) == "JSON")


def detect(con, reader: str) -> list[tuple[str, Node]]:
    """The structure DuckDB detects in (a sample of) the files' lines."""
    rel = con.sql(f"SELECT * FROM {reader}")
    return [(n, _node(t)) for n, t in zip(rel.columns, rel.types, strict=True)]


def read_json_sql(
    paths: list[Path], compression: str | None, columns=None, sample: int = SAMPLE_ROWS
) -> str:
    """``read_json`` of the files: with ``columns`` the scan, else the detection of their
    structure from ``sample`` lines (-1: all) of at most ``SAMPLE_FILES`` files (DuckDB
    holds a buffer per sampled file)."""
    files = "[" + ", ".join(lit(str(Path(p).resolve())) for p in paths) + "]"
    opts = f"format = 'newline_delimited', compression = {lit(compression or 'none')}"
    if columns is None:
        opts += f", sample_size = {sample}, maximum_sample_files = {SAMPLE_FILES}"
        opts += ", map_inference_threshold = -1, field_appearance_threshold = 0"
    else:
        cols = ", ".join(f"{lit(n)}: {lit(c.sql_type())}" for n, c in columns)
        opts += f", columns = {{{cols}}}"
    return f"read_json({files}, {opts}, ignore_errors = false)"


class Flat:
    """The flattened names of a structure (``a_b``) → SQL, the shape and the unsafe flags."""

    def __init__(self, columns: list[tuple[str, Node]]):
        self.leaves: dict[str, str] = {}  # flattened name → SQL of its text cell
        self.kv: dict[str, tuple[str, str]] = {}  # pivot head (param, ...) → list, macro
        self.macros: list[str] = []  # one per key/value list: its value → text
        self.presence: list[str] = []  # per-row shape parts
        self.unsafe: list[str] = []
        self.keys = (
            " + ".join(
                f"coalesce(({q(n)} IS NOT NULL)::BIGINT + {_keys(node, q(n), 0)}, 0)"
                for n, node in columns
            )
            or "0"
        )  # the keys of the line DuckDB read (a key it did not declare is missing)
        for name, node in columns:
            self._walk(node, q(name), name, name)

    def _walk(self, node: Node, sql: str, key: str, flat: str) -> None:
        if node.kind == "struct":
            for n, child in node.children:
                self._walk(child, f"struct_extract({sql}, {lit(n)})", n, f"{flat}_{n}")
            return
        if node.kind == "list" and node.is_kv():
            head = KEY_VALUE_PREFIX.get(key, flat)
            if head in self.kv:
                raise Unsupported(f"two key/value lists named {head}")
            macro = f"__kv{len(self.kv)}"
            self.kv[head] = (sql, macro)
            self.macros.append(kv_macro(macro, dict(node.children.children)["value"]))
            self.presence += [f"{sql} IS NULL", f"len({sql}) = 0"]
            self.presence.append(f"list_transform({sql}, lambda x: CAST(x.key AS VARCHAR))")
            self.unsafe.append(
                f"coalesce(list_bool_or(list_transform({sql}, "
                "lambda x: x.key IS NULL OR x.value IS NULL)), FALSE)"
            )
            self._name(flat, "NULL")  # an empty list is a column of its own (null)
            return
        if node.kind == "list":  # JSON text in the Python reader: presence only
            self.presence += [f"{sql} IS NULL", f"len({sql}) = 0"]
            self._name(flat, "NULL")
            return
        self.presence.append(f"{sql} IS NULL")
        self._name(flat, sql)
        if node.json:  # an object among scalars: flattened otherwise by Python
            self.unsafe.append(f"coalesce(regexp_matches({sql}, '^[\\[{{]'), FALSE)")

    def _name(self, flat: str, sql: str) -> None:
        if flat in self.leaves:
            raise Unsupported(f"two paths flatten to {flat}")
        self.leaves[flat] = sql

    def resolve(self, name: str) -> tuple[str, str]:
        """(flattened name the cell comes from, SQL of the text cell) for a source column."""
        if name in self.leaves:
            return name, self.leaves[name]
        for head, (sql, macro) in self.kv.items():
            if name.startswith(head + "_") and len(name) > len(head) + 1:
                return name, kv_cell(sql, name[len(head) + 1 :], macro)
        found = [f for f in self.leaves if norm(f) == norm(name)]
        if found:
            return found[0], self.leaves[found[0]]
        return name, "CAST(NULL AS VARCHAR)"

    def shape_sql(self) -> str:
        return f"hash({', '.join(self.presence)})" if self.presence else "0"

    def unsafe_sql(self) -> str:
        return " OR ".join(f"({u})" for u in self.unsafe) or "FALSE"


def _keys(node: Node, sql: str, depth: int) -> str:
    """SQL: the JSON keys inside a value (not counting its own key)."""
    if node.kind == "struct":
        parts = [
            f"coalesce(({f} IS NOT NULL)::BIGINT + {_keys(c, f, depth)}, 0)"
            for n, c in node.children
            if (f := f"struct_extract({sql}, {lit(n)})")
        ]
        return "(" + " + ".join(parts) + ")" if parts else "0"
    if node.kind == "list" and node.children.kind in ("struct", "list"):
        x = f"x{depth}"
        inner = _keys(node.children, x, depth + 1)
        return f"coalesce(list_sum(list_transform({sql}, lambda {x}: {inner})), 0)"
    return "0"


def kv_cell(lst: str, key: str, macro: str) -> str:
    """The text of the last item of key/value list ``lst`` with ``key`` (``macro``: the
    list's value → text)."""
    item = f"(list_filter({lst}, lambda x: CAST(x.key AS VARCHAR) = {lit(key)})[-1])"
    return f"{macro}({item}.value)"


def kv_macro(name: str, value: Node) -> str:
    """A GA4 value as text: its first non-null value field (or the value itself when it is
    no struct), as :func:`jsonl.flatten_record` takes it."""
    if value.kind == "struct":
        fields = [n for n, _ in value.children]
        parts = [f"struct_extract(v, {lit(f)})" for f in GA4_VALUE_FIELDS if f in fields]
        body = f"coalesce({', '.join(parts)})" if parts else "CAST(NULL AS VARCHAR)"
    elif value.kind == "leaf":
        body = "v"
    else:
        raise Unsupported("key/value list values that are lists")
    return f"CREATE OR REPLACE TEMP MACRO {name}(v) AS {body}"


# ---------------------------------------------------------------------------- the scan


class JsonScan:
    """One group: files of one mapping and compression, read by one ``read_json``."""

    special_rows = "a value or shape the DuckDB JSON path does not reproduce (setjson.py)"

    def __init__(self, jobs: list, compression: str | None, con, sample: int = SAMPLE_ROWS):
        self.compression = compression
        self.columns = detect(con, read_json_sql([j.path for j in jobs], compression, None, sample))
        self.flat = Flat(self.columns)
        job0 = jobs[0]
        mapping = job0.plan.mapping
        needed: list[str] = []
        for spec in mapping.columns.values():
            needed += list(spec.sources)
            for quoted, bare in _SRC_REF.findall(spec.expr or ""):
                needed.append(quoted.replace('""', '"') if quoted else bare)
        self.needed = list(dict.fromkeys(needed))
        self.resolved = {n: self.flat.resolve(n) for n in self.needed}
        # the union plan: every source column "found" (absent ones are null cells)
        self.plan = make_plan(mapping, self.needed)
        self.plan.date_order = job0.plan.date_order
        self.cols = [f"c{i}" for i in range(len(self.needed))]

    def typed_sql(self, jobs: list, offsets: list[int]) -> str:
        reader = read_json_sql([j.path for j in jobs], self.compression, self.columns)
        cells = ", ".join(
            f"{self.resolved[n][1]} AS {c}" for n, c in zip(self.needed, self.cols, strict=True)
        )
        chunk = [
            f"__row AS {q(ROW_COLUMN)}",
            f"{_per_file([lit(j.rel) for j in jobs], 'VARCHAR')} AS {q(LINEAGE_COLUMNS[0])}",
            f"{_per_file([lit(j.file_hash) for j in jobs], 'VARCHAR')} AS {q(LINEAGE_COLUMNS[1])}",
            f"{_per_file([lit(str(j.ingested_at)) for j in jobs], 'TIMESTAMP')} "
            f"AS {q(LINEAGE_COLUMNS[2])}",
            *(f"{c} AS {q(n)}" for n, c in zip(self.needed, self.cols, strict=True)),
            "__fi",
            "__shape",
            "__unsafe",
            "__nkeys",
        ]
        typed = compile_sql(
            self.plan,
            [ROW_COLUMN, *LINEAGE_COLUMNS, *self.needed],
            source="set_chunk",
            passthrough=("__fi", "__shape", "__unsafe", "__nkeys"),
        )
        offs = _per_file([str(o) for o in offsets], "BIGINT")
        return (
            f"WITH set_scan AS (SELECT row_number() OVER () AS __g, "
            f"CAST(file_index AS BIGINT) AS __fi, {cells}, "
            f"{self.flat.shape_sql()} AS __shape, {self.flat.unsafe_sql()} AS __unsafe, "
            f"{self.flat.keys} AS __nkeys "
            f"FROM {reader}),\n"
            f"set_rows AS (SELECT CAST(__g - {offs} AS BIGINT) AS __row, * EXCLUDE (__g) "
            "FROM set_scan),\n"
            f"set_chunk AS (SELECT {', '.join(chunk)} FROM set_rows)\n"
            f"SELECT * FROM ({typed}) typed"
        )


def _per_file(values: list[str], cast: str) -> str:
    """The value of the row's file (``__fi``: its index in the scan's list of files)."""
    return f"CAST(([{', '.join(values)}])[__fi + 1] AS {cast})"


def run_group(con, scan: JsonScan, jobs: list) -> tuple[dict[int, list], set[int]]:
    """Stream the typed rows of ``jobs`` into each file's raw writer. Returns the rows to
    quarantine per file (kept: they are few) and the files with an unsafe row. Also sets
    ``job.json_shapes`` (row → first row of each shape)."""
    offsets, total = [], 0
    for job in jobs:
        offsets.append(total)
        total += len(job.json_lines)
        job.json_shapes = {}
        job.json_seen = 0  # keys DuckDB read
    for macro in scan.flat.macros:
        con.execute(macro)
    bad: dict[int, list] = {}
    unsafe: set[int] = set()
    reader = con.sql(scan.typed_sql(jobs, offsets)).to_arrow_reader(50_000)
    for batch in reader:
        table = pa.Table.from_batches([batch])
        fis = table["__fi"].to_numpy()
        # rows come in scan order: a batch is runs of one file's rows
        starts = [0, *(np.flatnonzero(np.diff(fis)) + 1).tolist(), len(fis)]
        for a, b in itertools.pairwise(starts):
            fi, part = int(fis[a]), table.slice(a, b - a)
            if fi in unsafe or pc.any(part["__unsafe"]).as_py():
                unsafe.add(fi)
                continue
            job = jobs[fi]
            job.json_seen += pc.sum(part["__nkeys"]).as_py() or 0
            firsts = part.group_by("__shape", use_threads=False).aggregate([("_source_row", "min")])
            shapes = job.json_shapes
            for shape, row in zip(
                firsts["__shape"].to_pylist(), firsts["_source_row_min"].to_pylist(), strict=True
            ):
                shapes[shape] = min(row, shapes.get(shape, row))
            good, rejected = job.split_set(part)
            job.accept(good, _EMPTY_Q)
            if rejected.num_rows:
                bad.setdefault(fi, []).append(rejected)
    return bad, unsafe


def file_header(job) -> list[str]:
    """The Python reader's header of the file: the flattened first line of each shape, in
    line order (first-seen order of the columns)."""
    rows = sorted(set(job.json_shapes.values()))
    names: dict[str, None] = {}
    for r in rows:
        for name in flatten_record(json.loads(job.json_lines[r - 1])):
            if _safe_name(name) != name or not name:
                raise Unsupported(f"column name {name!r} is renamed by the reader")
            names.setdefault(name)
    return list(names)


def settle(job, scan: JsonScan, mset) -> str | None:
    """After the scan: the file's full header, its mapping chosen again and its plan (drift
    notes, missing required columns). ``None``: the rows stand; else why Python reads it."""
    if job.json_seen != job.json_keys:
        return f"KEYS:{job.json_seen} of {job.json_keys} keys in the structure DuckDB read"
    header = file_header(job)
    if mset is not None:
        readings = choose_readings(mset, job.rel, header)
        names = {r.entity_name: r.name for r in readings}
        if names.get(job.result.entity) != job.plan.mapping.name:
            return "the mapping chosen on the whole file differs from the probe's"
    plan = make_plan(job.plan.mapping, header)
    by_norm: dict[str, str] = {}
    for h in header:
        by_norm.setdefault(norm(h), h)
    for name, (used, _) in scan.resolved.items():
        found = name if name in header else by_norm.get(norm(name))
        if found is not None and found != used:
            return f"column {name!r} is {found!r} in this file"
    plan.date_order = job.plan.date_order
    job.plan = plan
    job.result.drift = plan.drift_notes
    job.json_header = header
    if plan.missing_required:
        return "REJECT:" + "; ".join(plan.missing_required)
    return None


def quarantine_records(job, rejected: list[pa.Table]) -> pa.Table:
    """The quarantine rows of a file with their ``record`` (every header column of the
    line, as the Python reader's chunk holds it)."""
    t = pa.concat_tables(rejected).sort_by("_source_row")
    records = []
    for row in t["_source_row"].to_pylist():
        flat = flatten_record(json.loads(job.json_lines[row - 1]))
        rec = {h: flat.get(h) for h in job.json_header}
        records.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
    lineage = (
        "_source_file",
        "_source_row",
        "_source_system",
        "_mapping",
        "_file_hash",
        "_ingested_at",
    )
    return pa.table(
        {
            **{c: t[c] for c in QUARANTINE_SCHEMA.names if c in lineage},
            "reason": t["_reason"],
            "record": pa.array(records, pa.string()),
        }
    ).cast(QUARANTINE_SCHEMA)
