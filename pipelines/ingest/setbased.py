"""Set-based ingest: the new delimited files of one mapping read by one DuckDB scan.

The loader (``Batcher``) hands every planned reading to :class:`SetLoader` first. A reading
it takes (:func:`fallback_reason` is ``None``) waits until the batcher flushes; then all the
waiting files with the same typing SQL and header are read by **one** ``read_csv`` over the
list of files, numbered per file, typed by the mapping's compiled SQL
(:func:`pipelines.ingest.transform.compile_sql` over the scan instead of a chunk), split
into raw rows and quarantine rows in the same pass and streamed — Arrow batches of the
query result, never a table of the whole load — into each file's own raw and quarantine
Parquet writers. Commit, manifest (``read_by: duckdb``), exactly-once and rejection stay
the loader's.

Which files DuckDB reads, decided per file:

* cheaply, from the probe the loader opens anyway (its first rows): plain delimited UTF-8
  text with the header on the first row, no title, comment or blank rows there, not gzip
  (the decompression-bomb guard is the Python reader's), no glob character in the path; a
  mapping without ``fill_down``, ``ordinals`` or ``aggregate`` (their state runs across
  rows of a file in Python);
* then by a counting pass of the same scan: a file with a row the Python reader would skip
  or treat apart (blank rows, ``#`` comments, footer / summary rows, a row with another
  number of cells, invalid UTF-8 — DuckDB's strict CSV errors name no row, so a failing
  scan is retried file by file) goes back to the Python reader, alone.

Everything else (JSON lines, Parquet, XLSX, whitespace / fixed-width text, headerless files,
UTF-16 and Latin-1 text, title lines, the vendor shapes with preambles and footers) is read
by the Python reader as before; its manifest record says ``read_by: python`` and why.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.core.contract import QUARANTINE_SCHEMA
from pipelines.ingest.mapping import norm
from pipelines.ingest.readers import ROW_COLUMN, _to_string
from pipelines.ingest.transform import LINEAGE_COLUMNS, compile_sql, lit, q

PROBE_ROWS = 2_000  # rows the loader's probe of a delimited file parses in Python
BATCH_ROWS = 50_000  # rows per Arrow batch streamed out of the typing query
SHARDS = 2  # concurrent scans per group (each scan numbers its rows in one stream)
SHARD_MIN_BYTES = 16 << 20  # a smaller group is one scan (planning a scan costs ~0.2 s)
MAX_GROUP_FILES = 2_000
_QUARANTINE_EMPTY = QUARANTINE_SCHEMA.empty_table()
_GLOB = re.compile(r"[*?\[\]{}]")
_SPACE = r"[\s\p{Z}\p{Cc}\x{feff}]"  # a superset of Python's str.strip() characters
log = logging.getLogger(__name__)


def connect(landing: Path, threads: int = 2) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can read the landing folder and nothing else."""
    con = duckdb.connect(config={"threads": threads, "memory_limit": "1GB"})
    con.execute(f"SET allowed_directories = [{lit(str(Path(landing).resolve()) + '/')}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET lock_configuration = true")
    return con


def fallback_reason(job) -> str | None:
    """Why the Python reader reads this reading (``None``: DuckDB may read it)."""
    source, mapping = job.source, job.plan.mapping
    info, opts = source.info, source.options
    if mapping.aggregate:
        return "mapping uses aggregate"
    if _GLOB.search(str(job.path)):
        return "glob character in the file path"
    if info.format == "parquet":
        return _parquet_fallback(job)
    if info.format != "csv":
        return f"format {info.format}"
    if info.compression:
        return f"{info.compression}-compressed"
    if info.encoding not in ("utf-8", "utf-8-sig"):
        return f"encoding {info.encoding}"
    if opts.names:
        return "headerless (reader.names)"
    if info.header_row != 1 or info.preamble:
        return "title or comment rows above the header"
    if info.skipped:
        return "rows the reader skips: " + ", ".join(sorted(info.skipped))
    if len(info.delimiter or "") != 1 or info.delimiter in '"\r\n':
        return f"delimiter {info.delimiter!r}"
    first = getattr(source, "_first", None)
    if first is not None and first.malformed:
        return "rows with more cells than the header"
    return None


def _parquet_fallback(job) -> str | None:
    """A flat Parquet file whose columns DuckDB turns into the Python reader's text."""
    if job.source.info.compression:
        return f"{job.source.info.compression}-compressed"
    try:
        schema = pq.read_schema(job.path)
    except Exception as exc:  # the Python reader says what is wrong with it
        return f"cannot read the Parquet schema: {exc}"
    for f in schema:
        if _cell_sql(q(f.name), f.type) is None:
            return f"Parquet column {f.name!r} of type {f.type}"
    return None


def _cell_sql(x: str, t: pa.DataType) -> str | None:
    """A Parquet value as the text ``readers._to_string`` gives it (None: not done here)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t):
        return f"CAST({x} AS VARCHAR)"
    if pa.types.is_boolean(t):
        return f"CASE WHEN {x} THEN 'true' WHEN NOT {x} THEN 'false' END"
    if pa.types.is_floating(t):  # Arrow writes 13085.0 as 13085; checked per file
        return (
            f"CASE WHEN {x} = trunc({x}) AND abs({x}) < 1e15 THEN "
            f"CAST(CAST({x} AS BIGINT) AS VARCHAR) ELSE CAST({x} AS VARCHAR) END"
        )
    return None


class SetLoader:
    """Readings waiting for their set-based scan, grouped by typing SQL and header."""

    def __init__(self, landing: Path, scan_rows: int = 2 * BATCH_ROWS):
        self.landing = Path(landing)
        self.scan_rows = scan_rows  # about this many rows waiting: scan them (then commit)
        self.groups: dict[tuple, list] = {}
        self.files = 0
        self.rows = 0  # rows waiting (estimated from the probes)

    def offer(self, job) -> str | None:
        """Take ``job`` (returns ``None``) or say why the Python reader must read it."""
        why = fallback_reason(job)
        if why is not None:
            return why
        info = job.source.info
        schema = str(pq.read_schema(job.path)) if info.format == "parquet" else ""
        key = (job.sql, tuple(job.plan.header), info.format, info.delimiter, schema)
        self.groups.setdefault(key, []).append(job)
        self.files += 1
        self.rows += _estimated_rows(job)
        return None

    def full(self) -> bool:
        """Enough is waiting: scan now, so that a long run commits files as it goes."""
        return self.files >= MAX_GROUP_FILES or self.rows >= self.scan_rows

    def flush(self, python: Callable, finish: Callable) -> None:
        """Scan every waiting group; ``python(job)`` reads a file the scan gives back,
        ``finish(*jobs)`` commits files whose rows are all written."""
        groups, self.groups, self.files, self.rows = self.groups, {}, 0, 0
        for jobs in groups.values():
            self._flush_group(jobs, python, finish)

    def _flush_group(self, jobs: list, python: Callable, finish: Callable) -> None:
        job0 = jobs[0]
        scan = ScanSpec(job0.plan.header, job0.source.info.delimiter, job0.source.options)
        if job0.source.info.format == "parquet":
            scan = ParquetScan(job0.plan.header, pq.read_schema(job0.path))
        con = connect(self.landing)
        try:
            counts, failed = scan.count(con, [j.path for j in jobs])
        finally:
            con.close()
        taken = []
        for job in jobs:
            why = failed.get(str(job.path))
            if why is None and counts.get(str(job.path), (0, 0))[1]:
                why = scan.special_rows
            if why is not None:
                job.result.read_by, job.result.read_by_why = "python", why
                python(job)
            else:
                taken.append(job)
        if not taken:
            return
        shards = _shards(taken, SHARDS)
        unsafe: list = []
        try:
            if len(shards) == 1:
                unsafe = _run_shard(self.landing, scan, shards[0], counts)
            else:
                with ThreadPoolExecutor(len(shards)) as pool:
                    futures = [
                        pool.submit(_run_shard, self.landing, scan, s, counts, 1) for s in shards
                    ]
                    for f in futures:
                        unsafe += f.result()
        except duckdb.Error as exc:  # unexpected: let the Python reader redo these files
            log.warning("set-based scan failed (%s); reading its files one by one", exc)
            for job in taken:
                job.abort()
                job.reset()
                job.result.read_by, job.result.read_by_why = "python", f"scan failed: {exc}"
                python(job)
            return
        for job in unsafe:  # a value the scan would write otherwise: Python reads the file
            job.abort()
            job.reset()
            job.result.read_by, job.result.read_by_why = "python", scan.special_rows
            python(job)
        taken = [j for j in taken if j not in unsafe]
        for job in taken:
            job.result.read_by, job.result.read_by_why = "duckdb", ""
            job.read_all = True
        finish(*taken)


def _estimated_rows(job) -> int:
    """The rows of a file: all of them when the probe read the whole file, else its size
    over the bytes per line of its first 64 kB."""
    first = getattr(job.source, "_first", None)
    seen = first.table.num_rows if first is not None else 0
    if seen < job.source.options.chunk_rows:
        return seen
    with open(job.path, "rb") as f:
        head = f.read(64 << 10)
    per_line = len(head) / max(head.count(b"\n"), 1)
    return max(seen, int(job.path.stat().st_size / per_line))


def _shards(jobs: list, n: int) -> list[list]:
    """Split files into at most ``n`` lists of about equal bytes (order kept in each)."""
    sizes = {id(j): max(j.path.stat().st_size, 1) for j in jobs}
    if len(jobs) < 2 or n < 2 or sum(sizes.values()) < SHARD_MIN_BYTES:
        return [jobs]
    loads = [0] * n
    out: list[list] = [[] for _ in range(n)]
    for job in sorted(jobs, key=lambda j: -sizes[id(j)]):
        k = loads.index(min(loads))
        out[k].append(job)
        loads[k] += sizes[id(job)]
    order = {id(j): i for i, j in enumerate(jobs)}
    return [sorted(s, key=lambda j: order[id(j)]) for s in out if s]


class ScanSpec:
    """One ``read_csv`` over a list of files with the same header and delimiter."""

    special_rows = "blank, comment, footer or summary rows"
    extra: tuple[str, ...] = ()  # columns of set_rows the typed output carries along

    def __init__(self, header: list[str], delimiter: str, options):
        self.header = list(header)
        self.cols = [f"c{i}" for i in range(len(header))]
        self.delimiter = delimiter
        self.options = options

    def read_csv(self, paths: list[Path]) -> str:
        files = "[" + ", ".join(lit(str(Path(p).resolve())) for p in paths) + "]"
        columns = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in self.cols) + "}"
        return (
            f"read_csv({files}, columns = {columns}, header = true, auto_detect = false, "
            f"delim = {lit(self.delimiter)}, quote = '\"', escape = '\"', "
            "strict_mode = true, null_padding = false, ignore_errors = false, "
            "encoding = 'utf-8')"
        )

    def bytes_check(self, path: Path) -> str | None:
        """What DuckDB reads silently otherwise than Python's csv module, found in the
        bytes: empty lines (DuckDB drops them, the Python reader counts them as skipped
        blank rows) and blanks between a quote and its delimiter (DuckDB drops them)."""
        d = re.escape(self.delimiter.encode())
        rx = re.compile(
            rb"\n\r?\n|\r\r|\"[ \t]+(?:" + d + rb"|\r|\n|\Z)|(?:" + d + rb"|\r|\n)[ \t]+\""
        )
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return None
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                if rx.search(data):
                    return "empty lines or blanks around a quoted cell"
        return None

    def special_sql(self) -> str:
        """A row the Python reader skips or treats apart (blank, comment, footer,
        summary) — conservatively: a false alarm only sends the file to Python. The cells
        past the first are looked at only when the first is blank."""
        cells = [f"coalesce({c}, '')" for c in self.cols]
        strip = [f"regexp_replace({c}, '^{_SPACE}+|{_SPACE}+$', '', 'g')" for c in cells]
        rx = None
        if self.options.footer_patterns:
            rx = "^(?:" + "|".join(f"(?:{p})" for p in self.options.footer_patterns) + ")"
        always = []
        prefix = self.options.comment_prefix
        if prefix:
            # ``#`` then the end, a blank or one of ``-=#*`` (readers._is_comment; ``#1001``
            # is a value)
            crx = "^" + _SPACE + "*" + re.escape(prefix) + r"($|[ \t\-=#*])"
            always.append(f"regexp_matches({cells[0]}, {lit(crx)})")
        idx = [self.header.index(c) for c in self.options.summary_if_empty if c in self.header]
        if idx:
            always.append("(" + " AND ".join(f"{strip[i]} = ''" for i in idx) + ")")
        # first cell not blank: it is the one the footer patterns are matched against
        filled = f"regexp_matches({strip[0]}, {lit(rx)}, 'i')" if rx else "FALSE"
        first = "coalesce(" + ", ".join(f"nullif({x}, '')" for x in strip[1:]) + ", '')"
        blank = [f"regexp_full_match({' || '.join(cells)}, '{_SPACE}*')"]
        if rx:
            blank.append(f"regexp_matches({first}, {lit(rx)}, 'i')")
        slow = " OR ".join(
            [
                *always,
                f"(CASE WHEN regexp_matches({cells[0]}, '[^{_SPACE[1:-1]}]') THEN {filled} "
                f"ELSE {' OR '.join(blank)} END)",
            ]
        )
        # Most rows: the first cell starts and ends with a printable ASCII character, so it
        # is not blank and Python's strip() leaves it as it is: a few cheap tests decide.
        c0 = cells[0]
        fast = []
        if prefix:
            after = f"substr({c0}, {len(prefix) + 1}, 1)"
            fast.append(
                f"(starts_with({c0}, {lit(prefix)}) AND ({after} = '' OR "
                f"{after} IN (' ', chr(9), '-', '=', '#', '*')))"
            )
        if rx:
            fast.append(f"regexp_matches({c0}, {lit(rx)}, 'i')")
        if idx:
            fast.append(always[-1])
        printable = f"left({c0}, 1) BETWEEN '!' AND '~' AND right({c0}, 1) BETWEEN '!' AND '~'"
        return f"CASE WHEN {printable} THEN {' OR '.join(fast) or 'FALSE'} ELSE ({slow}) END"

    def count(self, con, paths: list[Path]) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
        """{path: (rows, special rows)} and {path: why the scan cannot read it}."""
        counts: dict[str, tuple[int, int]] = {}
        failed: dict[str, str] = {}
        for path in paths:
            why = self.bytes_check(path)
            if why:
                failed[str(path)] = why
        todo = [[p for p in paths if str(p) not in failed]]
        while todo:
            part = todo.pop()
            if not part:
                continue
            sql = (
                f"SELECT file_index, count(*), count_if({self.special_sql()}) "
                f"FROM {self.read_csv(part)} GROUP BY ALL"
            )
            try:
                rows = con.execute(sql).fetchall()
            except duckdb.Error as exc:
                if len(part) == 1:
                    failed[str(part[0])] = f"DuckDB cannot read it: {str(exc).splitlines()[0]}"
                else:  # which file fails: halve the list
                    todo += [part[: len(part) // 2], part[len(part) // 2 :]]
                continue
            for p in part:
                counts[str(p)] = (0, 0)
            for fi, n, special in rows:
                counts[str(part[fi])] = (n, special)
        return counts, failed

    def _rows_stages(self, jobs: list, counts, cols: list[str]) -> list[str]:
        """``set_scan`` (one read_csv of the files, rows numbered in scan order) and
        ``set_rows`` (``__row`` per file, the cells ``cols`` as the Python reader gives
        them: an empty cell is ``''``)."""
        offsets, total = [], 0
        for job in jobs:
            offsets.append(total)
            total += counts[str(job.path)][0]
        cells = ", ".join(f"coalesce({c}, '') AS {c}" for c in cols)
        return [
            f"set_scan AS (SELECT row_number() OVER () AS __g, "
            f"CAST(file_index AS BIGINT) AS __fi, * FROM {self.read_csv([j.path for j in jobs])})",
            f"set_rows AS (SELECT CAST(__g - {_per_file([str(o) for o in offsets], 'BIGINT')} "
            f"AS BIGINT) AS __row, __fi, {cells} FROM set_scan)",
        ]

    def needed(self, job0) -> list[str]:
        """The cells the typing reads (mapped columns, fill_down, ordinal keys), in header
        order: the scan projects only these (a window over every cell is several times
        slower)."""
        m = job0.plan.mapping
        names = set(job0.columns)
        for c in [*m.fill_down.get("by", []), *m.fill_down.get("columns", [])]:
            names.add(_resolve(c, self.header))
        for cols in m.ordinals.values():
            names.update(_resolve(c, self.header) for c in cols)
        return [c for h, c in zip(self.header, self.cols, strict=True) if h in names]

    def typed_sql(self, jobs: list, counts: dict[str, tuple[int, int]]) -> str:
        """The typing SQL of the group over one scan of ``jobs``' files."""
        job0 = jobs[0]
        mapping = job0.plan.mapping
        needed = self.needed(job0)
        by_name = {h: c for h, c in zip(self.header, self.cols, strict=True) if c in needed}
        stages = self._rows_stages(jobs, counts, needed)
        last = "set_rows"
        fill = fill_down_sql(mapping, self.header, by_name, last)
        if fill:
            stages += fill
            last = "set_filled"
        chunk = [
            f"__row AS {q(ROW_COLUMN)}",
            f"{_per_file([lit(j.rel) for j in jobs], 'VARCHAR')} AS {q(LINEAGE_COLUMNS[0])}",
            f"{_per_file([lit(j.file_hash) for j in jobs], 'VARCHAR')} AS {q(LINEAGE_COLUMNS[1])}",
            f"{_per_file([lit(str(j.ingested_at)) for j in jobs], 'TIMESTAMP')} "
            f"AS {q(LINEAGE_COLUMNS[2])}",
        ]
        ordinals = ordinals_sql(mapping, self.header, by_name)
        for c in job0.columns:
            cell = ordinals[c] if c in ordinals else by_name.get(c, "CAST(NULL AS VARCHAR)")
            chunk.append(f"{cell} AS {q(c)}")
        filled = fill_columns(mapping, self.header)  # their filled cells, for the records
        chunk += ["__fi", *self.extra, *(f"{by_name[h]} AS __{by_name[h]}" for h in filled)]
        stages.append(f"set_chunk AS (SELECT {', '.join(chunk)} FROM {last})")
        carried = [f"__{by_name[h]}" for h in filled]  # "__c0": the SQL's src leaves them out
        typed = compile_sql(
            job0.plan,
            [ROW_COLUMN, *LINEAGE_COLUMNS, *job0.columns],
            source="set_chunk",
            passthrough=("__fi", *self.extra, *carried),
        )
        fill_struct = "NULL"
        if filled:
            fields = ", ".join(f"{q(h)} := __{by_name[h]}" for h in filled)
            fill_struct = f"CASE WHEN _reason IS NOT NULL THEN struct_pack({fields}) END"
        exclude = f" EXCLUDE ({', '.join(carried)})" if carried else ""
        return (
            "WITH " + ",\n".join(stages) + "\n"
            f"SELECT *{exclude}, {fill_struct} AS __fill FROM ({typed}) typed"
        )

    def records_sql(self, jobs: list, counts) -> str:
        """Every cell of the rows listed in table ``set_bad`` (``fi``, ``row``) of ``jobs``."""
        stages = self._rows_stages(jobs, counts, self.cols)
        cells = ", ".join(f"{q(h)} := {c}" for h, c in zip(self.header, self.cols, strict=True))
        return (
            "WITH " + ",\n".join(stages) + "\n"
            f"SELECT __fi, __row, struct_pack({cells}) AS rec FROM set_rows "
            "SEMI JOIN set_bad ON set_rows.__fi = set_bad.fi AND set_rows.__row = set_bad.row"
        )

    def record(self, job, rec) -> dict:
        """A quarantined row's ``record`` (every original cell) from ``records_sql``."""
        return dict(rec)


class ParquetScan(ScanSpec):
    """One ``read_parquet`` over flat Parquet files with the same schema: rows numbered by
    ``file_row_number``, cells turned into the Python reader's text (``_cell_sql``)."""

    special_rows = "a value whose text DuckDB writes otherwise than the Python reader"

    def __init__(self, header: list[str], schema: pa.Schema):
        super().__init__(header, None, None)
        self.schema = schema

    def _rows_stages(self, jobs: list, counts, cols: list[str]) -> list[str]:
        files = "[" + ", ".join(lit(str(Path(j.path).resolve())) for j in jobs) + "]"
        by_col = dict(zip(self.cols, self.schema, strict=True))
        cells = ", ".join(f"{_cell_sql(q(by_col[c].name), by_col[c].type)} AS {c}" for c in cols)
        return [
            "set_rows AS (SELECT CAST(file_row_number + 1 AS BIGINT) AS __row, "
            f"CAST(file_index AS BIGINT) AS __fi, {cells} "
            f"FROM read_parquet({files}, file_row_number = true))"
        ]

    def count(self, con, paths: list[Path]) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
        """{path: (rows, values DuckDB turns into other text than Arrow)}: each distinct
        non-text value of a file is compared with ``readers._to_string``."""
        counts: dict[str, tuple[int, int]] = {}
        failed: dict[str, str] = {}
        checked = [
            f
            for f in self.schema
            if not (pa.types.is_string(f.type) or pa.types.is_integer(f.type))
        ]
        for path in paths:
            try:
                rows = pq.ParquetFile(path).metadata.num_rows
                differ = 0
                for f in checked:
                    sql = (
                        f"SELECT DISTINCT {q(f.name)} AS v, {_cell_sql(q(f.name), f.type)} AS s "
                        f"FROM read_parquet({lit(str(Path(path).resolve()))})"
                    )
                    t = con.sql(sql).to_arrow_table()
                    arrow = _to_string(t["v"].combine_chunks())
                    differ += sum(
                        a != b for a, b in zip(arrow.to_pylist(), t["s"].to_pylist(), strict=True)
                    )
                counts[str(path)] = (rows, differ)
            except (duckdb.Error, OSError, pa.ArrowException) as exc:
                failed[str(path)] = f"DuckDB cannot read it: {str(exc).splitlines()[0]}"
        return counts, failed


def _per_file(values: list[str], cast: str) -> str:
    """The value of the row's file (``__fi``: its index in the scan's list of files)."""
    return f"CAST(([{', '.join(values)}])[__fi + 1] AS {cast})"


def fill_columns(mapping, header: list[str]) -> list[str]:
    """The header columns ``fill_down`` fills (none without a ``by`` column present)."""
    spec = mapping.fill_down
    if not [c for c in spec.get("by", []) if _resolve(c, header)]:
        return []
    cols = [_resolve(c, header) for c in spec.get("columns", [])]
    return list(dict.fromkeys(c for c in cols if c))


# Python's str.isspace() characters: FillDown treats a cell of only these as empty
_PY_SPACE = (
    r"[\t\n\x{0b}\x{0c}\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
    r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)


def _resolve(name: str, header: list[str]) -> str | None:
    if name in header:
        return name
    return next((h for h in header if norm(h) == norm(name)), None)


def fill_down_sql(mapping, header: list[str], by_name: dict, source: str) -> list[str]:
    """``fill_down`` as window stages (``set_filled``), the same as ``loader.FillDown``: a
    blank cell takes the last non-blank value of the run of consecutive rows with the same
    ``by`` key (a file's rows in order)."""
    spec = mapping.fill_down
    by = [by_name[h] for c in spec.get("by", []) if (h := _resolve(c, header))]
    cols = [by_name[h] for c in spec.get("columns", []) if (h := _resolve(c, header))]
    if not by or not cols:
        return []
    key = by[0] if len(by) == 1 else f"row({', '.join(by)})"
    order = "PARTITION BY __fi ORDER BY __row"
    blank = {c: f"coalesce(regexp_full_match({c}, '{_PY_SPACE}*'), TRUE)" for c in cols}
    filled = ", ".join(
        # the frame may end at the current row: a blank current cell is null in the input
        f"CASE WHEN {blank[c]} THEN coalesce(last_value(CASE WHEN {blank[c]} THEN NULL "
        f"ELSE {c} END IGNORE NULLS) OVER (PARTITION BY __fi, __run ORDER BY __row ROWS "
        f"UNBOUNDED PRECEDING), {c}) ELSE {c} END AS {c}"
        for c in cols
    )
    return [
        f"set_changes AS (SELECT *, CASE WHEN {key} IS DISTINCT FROM lag({key}) OVER ({order}) "
        f"THEN 1 ELSE 0 END AS __chg FROM {source})",
        f"set_runs AS (SELECT *, sum(__chg) OVER ({order} ROWS UNBOUNDED PRECEDING) AS __run "
        "FROM set_changes)",
        f"set_filled AS (SELECT * REPLACE ({filled}) FROM set_runs)",
    ]


def ordinals_sql(mapping, header: list[str], by_name: dict) -> dict[str, str]:
    """``ordinals`` as ``row_number()`` per file and key, the same as ``loader.Ordinals``
    (a key column absent from the header is one null group)."""
    out = {}
    for name, cols in mapping.ordinals.items():
        keys = [by_name[h] if (h := _resolve(c, header)) else "NULL" for c in cols]
        part = ", ".join(["__fi", *keys])
        out[name] = f"CAST(row_number() OVER (PARTITION BY {part} ORDER BY __row) AS VARCHAR)"
    return out


def _run_shard(landing: Path, scan: ScanSpec, jobs: list, counts, threads: int = 2) -> list:
    """Stream one scan's typed rows into each file's raw writer; quarantined rows are kept
    (they are few) until a second scan of the files that have any reads their cells.
    Returns the jobs with an ``__unsafe`` row (JSON lines): the caller lets Python read them."""
    con = connect(landing, threads)
    bad: dict[int, list[pa.Table]] = {}
    unsafe: set[int] = set()
    try:
        reader = con.sql(scan.typed_sql(jobs, counts)).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            table = pa.Table.from_batches([batch])
            fis = table["__fi"]
            values = pc.unique(fis).to_pylist()
            for fi in values:
                part = table if len(values) == 1 else table.filter(pc.equal(fis, fi))
                if "__unsafe" in part.column_names and (
                    fi in unsafe or pc.any(part["__unsafe"]).as_py()
                ):
                    unsafe.add(fi)
                    continue
                good, rejected = jobs[fi].split_set(part)
                jobs[fi].accept(good, _QUARANTINE_EMPTY)
                if rejected.num_rows:
                    bad.setdefault(fi, []).append(rejected)
        bad = {fi: tables for fi, tables in bad.items() if fi not in unsafe}
        if bad:
            _quarantine(con, scan, jobs, counts, bad)
    finally:
        con.close()
    return [jobs[fi] for fi in sorted(unsafe)]


def _quarantine(con, scan: ScanSpec, jobs: list, counts, bad: dict[int, list[pa.Table]]):
    """Quarantine rows with their records: every cell of the row as read (the cells that
    ``fill_down`` filled as filled), read by one more scan of the files with such rows."""
    order = sorted(bad)
    tables = {fi: pa.concat_tables(bad[fi]).sort_by("_source_row") for fi in order}
    wanted = pa.table(
        {
            "fi": pa.array(
                [k for k, fi in enumerate(order) for _ in range(tables[fi].num_rows)], pa.int64()
            ),
            "row": pa.concat_arrays(
                [tables[fi]["_source_row"].combine_chunks() for fi in order]
            ).cast(pa.int64()),
        }
    )
    con.register("set_bad", wanted)
    try:
        found = con.sql(scan.records_sql([jobs[fi] for fi in order], counts)).to_arrow_table()
    finally:
        con.unregister("set_bad")
    cells = {
        (order[k], row): rec
        for k, row, rec in zip(
            found["__fi"].to_pylist(),
            found["__row"].to_pylist(),
            found["rec"].to_pylist(),
            strict=True,
        )
    }
    for fi in order:
        t = tables[fi]
        fills = t["__fill"].to_pylist()
        records = []
        for row, fill in zip(t["_source_row"].to_pylist(), fills, strict=True):
            rec = scan.record(jobs[fi], cells[(fi, row)])
            rec.update(fill or {})
            records.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
        quarantined = pa.table(
            {
                **{
                    c: t[c]
                    for c in QUARANTINE_SCHEMA.names
                    if c
                    in (
                        "_source_file",
                        "_source_row",
                        "_source_system",
                        "_mapping",
                        "_file_hash",
                        "_ingested_at",
                    )
                },
                "reason": t["_reason"],
                "record": pa.array(records, pa.string()),
            }
        ).cast(QUARANTINE_SCHEMA)
        jobs[fi].accept(jobs[fi].entity.arrow_schema().empty_table(), quarantined)
