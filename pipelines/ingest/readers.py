"""Streaming readers: any landing file → chunks of string columns with source row numbers.

Every reader yields :class:`SourceChunk` objects holding at most ``chunk_rows`` rows as a
``pyarrow.Table`` of *string* columns named after the file's header, plus the 1-based data
row number of each row (header excluded). Typing happens later, in SQL (see ``transform``),
so a reader never guesses types; it only finds the table inside the file:

* format by magic bytes (gzip, zip/XLSX, Parquet) or content (JSON lines vs delimited text);
  a mapping may say ``whitespace`` (columns separated by runs of blanks) or ``fixed_width``
  (``pandas.read_fwf``), give the column ``names`` of a headerless file, and pick XLSX sheets;
* text encoding from the BOM, else strict UTF-8, else charset detection (Latin-1, cp1252, ...);
* the delimiter by parsing a sample with each candidate and keeping the most consistent one;
* title / date-range lines and ``#`` comment preambles above the header;
* footer rows (``Total: Campaigns``, ``Grand total``), ``No data available.``, blank rows and
  further ``#``-separated tables, which are skipped and *counted* (never silently dropped);
* rows with more cells than the header, or unparsable JSON lines, as malformed rows that the
  loader sends to quarantine.

Memory is bounded by the chunk size: nothing holds a whole file.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import fnmatch
import gzip
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.ingest.jsonl import arrow_columns, flatten_arrow, flatten_record

ROW_COLUMN = "__row"  # reserved column carrying the 1-based source row number
RESERVED = {ROW_COLUMN, "src", "_source_row"}  # names the SQL stage uses itself
DEFAULT_CHUNK_ROWS = 50_000
SAMPLE_BYTES = 256 * 1024
HEADER_SCAN_ROWS = 60
DELIMITERS = (",", ";", "\t", "|")
# reader.format values: detected ones, plus text layouts a mapping must name
FORMATS = ("csv", "whitespace", "fixed_width", "jsonl", "parquet", "xlsx")
TEXT_FORMATS = ("csv", "whitespace", "fixed_width")
DEFAULT_FOOTERS = (
    r"^(grand\s+)?totals?(\s*:.*)?$",
    r"^no data available\.?$",
)
# Defaults of config `ingest.gzip_max_ratio` / `ingest.gzip_min_allowance_mb`: a gzip file may
# expand to max_ratio x its size, and always to min_allowance bytes. Real exports compress
# 5-20x; a bomb (gigabytes of one byte) compresses ~1000x.
GZIP_MAX_RATIO = 200
GZIP_MIN_ALLOWANCE = 256 * 1024 * 1024
csv.field_size_limit(256 * 1024 * 1024)


class ReadError(Exception):
    """The file cannot be read as a table (its reason goes into ``rejected/*.reason.txt``)."""


class EmptyFile(ReadError):
    """The file holds no bytes (or only whitespace): nothing to load, nothing wrong."""


@dataclass(frozen=True)
class GzipLimits:
    """How far a gzip landing file may expand before it is refused as a decompression bomb."""

    max_ratio: float = GZIP_MAX_RATIO
    min_allowance: int = GZIP_MIN_ALLOWANCE  # bytes

    @classmethod
    def from_config(cls, ingest: dict | None) -> GzipLimits:
        """From the ``ingest:`` block of config/segmart.yaml (defaults for missing keys)."""
        ingest = ingest or {}
        ratio = ingest.get("gzip_max_ratio", GZIP_MAX_RATIO)
        allowance_mb = ingest.get("gzip_min_allowance_mb", GZIP_MIN_ALLOWANCE // (1024 * 1024))
        if not (float(ratio) > 0 and float(allowance_mb) >= 0):
            raise ValueError(
                "ingest.gzip_max_ratio must be > 0 and ingest.gzip_min_allowance_mb >= 0"
            )
        return cls(max_ratio=float(ratio), min_allowance=int(float(allowance_mb) * 1024 * 1024))

    def limit(self, compressed_size: int) -> int:
        return max(self.min_allowance, int(self.max_ratio * compressed_size))


@dataclass
class ReaderOptions:
    """How to read a file; ``None`` means detect. Mappings set these under ``reader:``."""

    format: str | None = None  # one of FORMATS
    encoding: str | None = None
    delimiter: str | None = None
    skip_rows: int | None = None  # rows above the header (title lines); None = detect
    comment_prefix: str | None = "#"
    footer_patterns: tuple[str, ...] = DEFAULT_FOOTERS
    summary_if_empty: tuple[str, ...] = ()  # a row with all these cells empty is a summary
    sheet: str | tuple[str, ...] | None = None  # XLSX sheet name(s) or glob(s); None: tables
    names: tuple[str, ...] = ()  # a headerless file's column names (every row is data)
    widths: tuple[int, ...] = ()  # fixed_width: characters per column; () = inferred
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    gzip: GzipLimits = field(default_factory=GzipLimits)  # from config, not from mappings

    @classmethod
    def from_dict(cls, spec: dict | None) -> ReaderOptions:
        spec = dict(spec or {})
        footers = spec.pop("footer_patterns", None)
        if "summary_if_empty" in spec:
            spec["summary_if_empty"] = tuple(spec["summary_if_empty"])
        unknown = set(spec) - set(cls.__dataclass_fields__) | ({"gzip"} & set(spec))
        if unknown:
            raise ValueError(f"unknown reader options: {', '.join(sorted(unknown))}")
        _check_layout(spec)
        for key in ("names", "widths"):
            if key in spec:
                spec[key] = tuple(spec[key])
        if isinstance(spec.get("sheet"), list):
            spec["sheet"] = tuple(spec["sheet"])
        opts = cls(**spec)
        if footers is not None:
            opts.footer_patterns = tuple(footers) + DEFAULT_FOOTERS
        return opts


def _check_layout(spec: dict) -> None:
    """Values of the layout options (format, names, widths, sheet), each named if wrong."""
    fmt = spec.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"reader.format {fmt!r} is not one of {', '.join(FORMATS)}")
    names = spec.get("names")
    if names is not None:
        if not isinstance(names, list | tuple) or not names:
            raise ValueError("reader.names must be a list of column names")
        if not all(isinstance(n, str) and n.strip() for n in names):
            raise ValueError(f"reader.names must be non-empty texts: {names!r}")
        if len({n.strip().lower() for n in names}) != len(names):
            raise ValueError(f"reader.names has a duplicate name: {names!r}")
        if fmt in ("jsonl", "parquet"):
            raise ValueError(f"reader.names is for text and XLSX files, not {fmt}")
    widths = spec.get("widths")
    if widths is not None:
        if fmt != "fixed_width":
            raise ValueError("reader.widths needs reader.format: fixed_width")
        if not isinstance(widths, list | tuple) or not all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths
        ):
            raise ValueError(f"reader.widths must be a list of positive whole numbers: {widths!r}")
        if names is not None and len(names) != len(widths):
            raise ValueError(
                f"reader.names has {len(names)} names but reader.widths {len(widths)} widths"
            )
    sheet = spec.get("sheet")
    if sheet is not None:
        sheets = sheet if isinstance(sheet, list | tuple) else [sheet]
        if not sheets or not all(isinstance(x, str) and x for x in sheets):
            raise ValueError(f"reader.sheet must be a sheet name or a list of them: {sheet!r}")
        if fmt not in (None, "xlsx"):
            raise ValueError("reader.sheet is for XLSX workbooks")
    if spec.get("delimiter") is not None and fmt in ("whitespace", "fixed_width"):
        raise ValueError(f"reader.delimiter does not apply to reader.format {fmt}")


@dataclass
class SourceChunk:
    table: pa.Table  # string columns (header names) + ROW_COLUMN (int64)
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # row, reason, record


@dataclass
class FileInfo:
    format: str
    compression: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int | None = None  # 1-based physical row of the header (text formats)
    header: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)  # XLSX sheets read
    preamble: list[str] = field(default_factory=list)  # text of rows above the header
    skipped: Counter = field(default_factory=Counter)  # reason → rows

    def describe(self) -> str:
        parts = [self.format]
        if self.compression:
            parts.append(self.compression)
        if self.encoding:
            parts.append(self.encoding)
        if self.delimiter:
            parts.append(f"delimiter {self.delimiter!r}")
        if self.sheets:
            parts.append("sheet" + ("s " if len(self.sheets) > 1 else " ") + ", ".join(self.sheets))
        if self.header_row and self.header_row > 1:
            parts.append(f"header on row {self.header_row}")
        return ", ".join(parts)


# ---------------------------------------------------------------------------- detection


def _open_binary(path: Path, limits: GzipLimits | None = None) -> tuple[IO[bytes], str | None]:
    raw = path.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.close()
        limits = limits or GzipLimits()
        limit = limits.limit(path.stat().st_size)
        bounded = _Bounded(gzip.open(path, "rb"), limit, limits.max_ratio)  # noqa: SIM115
        return io.BufferedReader(bounded), "gzip"
    raw.seek(0)
    return raw, None


class _Bounded(io.RawIOBase):
    """A decompressed stream that refuses to expand past ``limit`` bytes (gzip bombs)."""

    def __init__(self, inner: IO[bytes], limit: int, ratio: float = GZIP_MAX_RATIO):
        self.inner, self.limit, self.ratio, self.total = inner, limit, ratio, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            n = self.inner.readinto(buffer)
        except (OSError, EOFError) as exc:  # truncated or corrupt gzip data
            raise ReadError(f"cannot decompress: {exc}") from exc
        self.total += n
        if self.total > self.limit:
            raise ReadError(
                f"gzip expands past {self.limit:,} bytes ({self.ratio:g}x the compressed "
                "size): refused as a possible decompression bomb; decompress it yourself "
                "if it is genuine (limits: ingest.gzip_max_ratio, ingest.gzip_min_allowance_mb)"
            )
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


def detect_format(path: Path, limits: GzipLimits | None = None) -> tuple[str, str | None]:
    """(format, compression) from magic bytes and content, not from the (untrusted) name."""
    stream, compression = _open_binary(path, limits)
    with stream:
        head = _read_head(stream)
    return _format_of(head), compression


def _read_head(stream: IO[bytes]) -> bytes:
    try:
        return stream.read(SAMPLE_BYTES)
    except (OSError, EOFError) as exc:
        raise ReadError(f"cannot decompress: {exc}") from exc


class _Prefixed(io.RawIOBase):
    """``head`` (already read from ``rest``) followed by the rest of the stream: a file is
    decompressed once, its sample included."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self.head, self.rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        return self.rest.readinto(buffer)

    def close(self) -> None:
        self.rest.close()
        super().close()


def _format_of(head: bytes) -> str:
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if not head.strip():
        raise EmptyFile("file is empty")
    text = _decode_sample(head, detect_encoding(head))
    if text.lstrip().startswith("{"):
        return "jsonl"
    if text.lstrip().startswith("[") and text.rstrip().endswith(("]", "}", ",")):
        raise ReadError("a JSON array document: export newline-delimited JSON (one object a line)")
    return "csv"


def detect_encoding(sample: bytes) -> str:
    """Encoding of a byte sample: BOM, else UTF-8 if valid, else charset detection."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample[:200].count(b"\x00") > 40:  # UTF-16 without BOM
        return "utf-16-le" if sample[1:2] == b"\x00" else "utf-16-be"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"  # a multi-byte character cut by the sample boundary
    from charset_normalizer import from_bytes  # lazy: only for files that are not UTF-8

    best = from_bytes(sample).best()
    if best is None or best.encoding in ("ascii", "utf_8"):
        return "cp1252"
    return best.encoding


def _decode_sample(sample: bytes, encoding: str) -> str:
    return sample.decode(encoding, errors="ignore")


def sniff_delimiter(lines: list[str]) -> str:
    """The candidate delimiter that splits the sample lines into the most consistent rows."""
    best, best_score = ",", (-1.0, 0)
    for delim in DELIMITERS:
        try:
            rows = list(csv.reader(lines, delimiter=delim))
        except csv.Error:
            continue
        widths = [len(r) for r in rows if len(r) > 1]
        if not widths:
            continue
        mode, freq = Counter(widths).most_common(1)[0]
        score = (freq / max(len(rows), 1), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def find_header(rows: list[list[str]]) -> int:
    """Index of the header among the first rows: the first row about as wide as the table."""
    counts = [sum(1 for c in r if c.strip()) for r in rows]
    if not counts:
        return 0
    widest = max(counts)
    if widest <= 1:
        return next((i for i, c in enumerate(counts) if c), 0)
    threshold = max(2, int(widest * 0.6))
    return next(i for i, c in enumerate(counts) if c >= threshold)


# ---------------------------------------------------------------------------- public API


class SourceFile:
    """A landing file opened for streaming: ``info.header`` is known right after opening."""

    def __init__(
        self,
        path: Path,
        options: ReaderOptions | None = None,
        *,
        vectorised_json: bool = True,
        csv_probe_rows: int | None = None,
    ):
        """``vectorised_json=False`` parses JSON lines one by one (the reference path that
        the vectorised one is tested and benchmarked against); the output is the same.
        ``csv_probe_rows``: a delimited file's first chunk has only this many rows (the
        loader's probe of a file the set-based scan may read; the header is the same)."""
        self.path = Path(path)
        self.options = options or ReaderOptions()
        self.vectorised_json = vectorised_json
        # opened once: a JSON-lines file is read on from its sample, decompressed once
        stream, compression = _open_binary(self.path, self.options.gzip)
        try:
            head = _read_head(stream)
            fmt = _format_of(head)
        except BaseException:
            stream.close()
            raise
        if fmt == "jsonl" and not self.options.format:
            self._opened: tuple[IO[bytes], bytes] | None = (stream, head)
        else:
            self._opened = None
            stream.close()
        if self.options.format:
            fmt = self.options.format
        if csv_probe_rows and fmt == "csv":
            self.options = dataclasses.replace(self.options, chunk_rows=csv_probe_rows)
        self.info = FileInfo(format=fmt, compression=compression)
        self._iter: Iterator[SourceChunk] = self._make_iterator()
        # Prime the first chunk: header detection (and JSON keys) happen while reading it.
        self._first: SourceChunk | None = next(self._iter, None)

    def _make_iterator(self) -> Iterator[SourceChunk]:
        fmt = self.info.format
        if fmt in TEXT_FORMATS:
            return self._row_chunks(self._csv_rows())
        if fmt == "xlsx":
            return self._row_chunks(self._xlsx_rows())
        if fmt == "jsonl":
            return self._jsonl_chunks()
        if fmt == "parquet":
            return self._parquet_chunks()
        raise ReadError(f"unsupported format {fmt!r}")

    @property
    def header(self) -> list[str]:
        return self.info.header

    def chunks(self) -> Iterator[SourceChunk]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._iter

    # ------------------------------------------------------------------ delimited text

    def _csv_rows(self) -> Iterator[list[str]]:
        opts = self.options
        stream, _ = _open_binary(self.path, self.options.gzip)
        with stream:
            sample = stream.read(SAMPLE_BYTES)
        stream, _ = _open_binary(self.path, self.options.gzip)
        encoding = opts.encoding or detect_encoding(sample)
        self.info.encoding = encoding
        lines = _decode_sample(sample, encoding).splitlines()
        if len(sample) == SAMPLE_BYTES and lines:
            lines = lines[:-1]  # possibly cut in half
        lines = [ln for ln in lines if not _is_comment(ln, opts.comment_prefix)]
        if self.info.format == "csv":
            delimiter = opts.delimiter or sniff_delimiter(lines[:200])
            self.info.delimiter = delimiter
        elif _binary_layout(sample, encoding):
            stream.close()
            raise ReadError(f"reader.format {self.info.format} is for text files; this is not text")
        text = io.TextIOWrapper(stream, encoding=encoding, newline="", errors="strict")
        try:
            if self.info.format == "csv":
                yield from csv.reader(text, delimiter=delimiter)
            elif self.info.format == "whitespace":  # runs of blanks separate the columns
                yield from (line.split() for line in text)
            else:
                yield from self._fixed_width_rows(text)
        except UnicodeDecodeError as exc:
            raise ReadError(
                f"not valid {encoding} text after the first {SAMPLE_BYTES} bytes ({exc.reason}); "
                "set reader.encoding in the mapping"
            ) from exc
        except csv.Error as exc:
            raise ReadError(f"malformed CSV: {exc}") from exc
        finally:
            text.close()

    def _fixed_width_rows(self, text: IO[str]) -> Iterator[list[str]]:
        """``pandas.read_fwf`` in chunks: ``widths`` from the mapping, else column extents
        inferred from the first 1,000 lines; the ``skip_rows`` title lines are passed on
        whole (one cell each) so the header logic counts them."""
        import pandas as pd  # lazy: only fixed-width files need it

        opts = self.options
        for _ in range(opts.skip_rows or 0):
            line = text.readline()
            if not line:
                return
            yield [line.rstrip("\r\n")]
        layout = (
            {"widths": list(opts.widths)}
            if opts.widths
            else {"colspecs": "infer", "infer_nrows": 1000}
        )
        try:
            frames = pd.read_fwf(
                text,
                header=None,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                chunksize=opts.chunk_rows,
                **layout,
            )
            for frame in frames:
                for row in frame.itertuples(index=False, name=None):
                    yield ["" if v is None else str(v) for v in row]
        except pd.errors.EmptyDataError:
            return
        except (pd.errors.ParserError, ValueError) as exc:
            raise ReadError(f"cannot read fixed-width text: {exc}") from exc

    def _xlsx_rows(self) -> Iterator[list[str]]:
        """Rows of the workbook's table sheets, one after another under one header.

        ``reader.sheet`` (names or globs) picks the sheets; by default every sheet is a
        candidate. The candidate whose header row has the most cells (the first of equals)
        sets the header; the other candidates with the same header (e.g. one per year) follow
        without their header rows; the rest (notes, pivots, another table) are skipped and
        their rows counted per sheet.
        """
        import openpyxl  # lazy: only XLSX files need it (slow to import)

        if self.info.compression:
            raise ReadError("gzip-compressed XLSX is not supported; XLSX is already compressed")
        try:
            wb = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for broken files
            raise ReadError(f"cannot open workbook: {exc}") from exc

        def rows_of(name: str, limit: int | None = None) -> Iterator[list[str]]:
            for values in wb[name].iter_rows(max_row=limit, values_only=True):
                yield [_cell_text(v) for v in values]

        try:
            chosen = self._chosen_sheets(wb.sheetnames)
            scans = {n: self._scan_sheet(rows_of(n, 4 * HEADER_SCAN_ROWS)) for n in chosen}
            tables = [n for n in chosen if scans[n]]  # the widest header; the first of equals
            main = max(tables, key=lambda n: scans[n][2]) if tables else chosen[0]
            key = _header_key(scans[main][1]) if scans[main] else None
            self.info.sheets = [
                n
                for n in chosen
                if n == main or (scans[n] and _header_key(scans[n][1]) == key and n != main)
            ]
            for name in wb.sheetnames:
                if name == main:
                    yield from rows_of(name)
                elif name in self.info.sheets:
                    start = scans[name][0]
                    for i, row in enumerate(rows_of(name)):
                        if i > start:
                            yield row
                        elif "".join(row).strip():
                            self.info.skipped[f"header and title rows of sheet {name!r}"] += 1
                else:  # a sheet not picked is not parsed: its size comes from its dimension
                    dim = wb[name].max_row if name not in chosen else None
                    n = dim or sum(1 for row in rows_of(name) if "".join(row).strip())
                    if n:
                        why = (
                            "not picked by reader.sheet"
                            if name not in chosen
                            else (f"its header differs from sheet {main!r}")
                        )
                        self.info.skipped[f"rows of sheet {name!r} ({why})"] += n
        finally:
            wb.close()

    def _chosen_sheets(self, names: list[str]) -> list[str]:
        wanted = self.options.sheet
        if not wanted:
            return list(names)
        patterns = [wanted] if isinstance(wanted, str) else list(wanted)
        chosen = [
            n
            for n in names
            if any(n == p or fnmatch.fnmatchcase(n.lower(), p.lower()) for p in patterns)
        ]
        if not chosen:
            raise ReadError(
                f"reader.sheet {', '.join(map(repr, patterns))}: no such sheet in the workbook "
                f"(its sheets: {', '.join(map(repr, names))})"
            )
        return chosen

    def _scan_sheet(self, rows: Iterator[list[str]]) -> tuple[int, list[str], int] | None:
        """(0-based row index of the header, header, its non-empty cells) of a sheet, as
        ``_row_chunks`` finds it (``None``: the sheet has no rows)."""
        opts = self.options
        if opts.names:
            return (opts.skip_rows or 0) - 1, _clean_header(opts.names), len(opts.names)
        head, where = [], []
        for i, row in enumerate(rows):
            if opts.skip_rows is not None and i < opts.skip_rows:
                continue
            if not "".join(row).strip() or _is_comment(row[0], opts.comment_prefix):
                continue
            head.append(row)
            where.append(i)
            if len(head) >= HEADER_SCAN_ROWS:
                break
        if not head:
            return None
        h = 0 if opts.skip_rows is not None else find_header(head)
        return where[h], _clean_header(head[h]), sum(1 for c in head[h] if c.strip())

    def _row_chunks(self, rows: Iterator[list[str]]) -> Iterator[SourceChunk]:
        """Header detection, footers, comments and chunking for row-oriented formats."""
        opts = self.options
        if opts.names:  # headerless: the mapping's names stand in the header's place
            rows = _with_header(rows, list(opts.names), opts.skip_rows or 0)
            opts = dataclasses.replace(opts, skip_rows=opts.skip_rows or 0)
        footer_rx = (  # matched against a row's first non-empty cell
            re.compile("|".join(f"(?:{p})" for p in opts.footer_patterns), re.IGNORECASE)
            if opts.footer_patterns
            else None
        )
        prefix = opts.comment_prefix
        scanned: list[list[str]] = []  # every row read while looking for the header
        head: list[list[str]] = []  # candidate rows (no blanks, no comments)
        where: list[int] = []  # index of each candidate in `scanned`
        for n, row in enumerate(rows, start=1):
            scanned.append(row)
            if opts.skip_rows is not None and n <= opts.skip_rows:
                continue
            if not "".join(row).strip() or _is_comment(row[0], prefix):
                continue
            head.append(row)
            where.append(n - 1)
            if len(head) >= HEADER_SCAN_ROWS:
                break
        if not head:
            raise ReadError("no header row found (file has no data)")
        h = 0 if opts.skip_rows is not None else find_header(head)
        above = scanned[: where[h]]
        for row in above:
            if not "".join(row).strip():
                continue
            if _is_comment(row[0], prefix):
                self.info.skipped["comment rows"] += 1
            else:
                self.info.skipped["title rows above the header"] += 1
            self.info.preamble.append(" ".join(c.strip() for c in row if c.strip()))
        header = _clean_header(head[h])
        self.info.header = header
        summary_idx = [header.index(c) for c in opts.summary_if_empty if c in header]
        self.info.header_row = None if opts.names else where[h] + 1
        width = len(header)
        pending = iter(scanned[where[h] + 1 :])

        def body() -> Iterator[list[str]]:
            yield from pending
            yield from rows

        buf: list[list[str]] = []
        nums: list[int] = []
        bad: list[tuple[int, str, str]] = []
        data_row = 0
        other_table = False
        after_comment = False
        for row in body():
            first = row[0].strip() if row else ""
            if not first:
                if not "".join(row).strip():
                    self.info.skipped["blank rows"] += 1
                    continue
                first = next(c.strip() for c in row if c.strip())
            if _is_comment(row[0], prefix):
                self.info.skipped["comment rows"] += 1
                after_comment = True
                continue
            if after_comment:
                after_comment = False
                if _clean_header(row) != header:
                    other_table = True
                    self.info.skipped["further tables after a # block"] += 1
                    continue
                if _clean_header(row) == header:
                    self.info.skipped["repeated header rows"] += 1
                    other_table = False
                    continue
            if other_table:
                self.info.skipped["further tables after a # block"] += 1
                continue
            if footer_rx is not None and footer_rx.match(first):
                self.info.skipped[f"footer/summary rows ({first[:40]})"] += 1
                continue
            if summary_idx and all(i >= len(row) or not row[i].strip() for i in summary_idx):
                self.info.skipped[
                    "summary rows (" + ", ".join(opts.summary_if_empty) + " empty)"
                ] += 1
                continue
            data_row += 1
            if len(row) > width:
                if any(c.strip() for c in row[width:]):
                    bad.append(
                        (
                            data_row,
                            f"row has {len(row)} cells, header has {width}",
                            json.dumps(row, ensure_ascii=False),
                        )
                    )
                    continue
                row = row[:width]
            elif len(row) < width:
                row = row + [""] * (width - len(row))
            buf.append(row)
            nums.append(data_row)
            if len(buf) >= opts.chunk_rows:
                yield _rows_chunk(header, buf, nums, bad)
                buf, nums, bad = [], [], []
        if buf or bad or data_row == 0:
            yield _rows_chunk(header, buf, nums, bad)

    # ------------------------------------------------------------------ JSON lines

    def _jsonl_chunks(self) -> Iterator[SourceChunk]:
        if self._opened is not None:  # the stream __init__ sniffed, its sample read
            (stream, sample), self._opened = self._opened, None
        else:
            stream, _ = _open_binary(self.path, self.options.gzip)
            sample = _read_head(stream)
        encoding = self.options.encoding or detect_encoding(sample)
        self.info.encoding = encoding
        raw = io.BufferedReader(_Prefixed(sample, stream))
        with io.TextIOWrapper(raw, encoding=encoding) as text:
            try:
                yield from self._json_blocks(self._json_lines(text))
            except UnicodeDecodeError as exc:
                raise ReadError(f"not valid {encoding} text ({exc.reason})") from exc

    def _json_lines(self, text: Iterable[str]) -> Iterator[str]:
        for line in text:
            if line.strip():
                yield line
            else:
                self.info.skipped["blank lines"] += 1

    def _json_blocks(self, lines: Iterator[str]) -> Iterator[SourceChunk]:
        """Chunks of ``chunk_rows`` records. A block that starts a chunk goes through
        :func:`arrow_columns`; when that declines, its lines are parsed one by one (and an
        invalid line makes the chunk take further lines, one by one, until it is full)."""
        size = self.options.chunk_rows
        records: list[dict] = []
        nums: list[int] = []
        bad: list[tuple[int, str, str]] = []
        row = 0
        while block := list(islice(lines, size - len(records))):
            if self.vectorised_json and not records and not bad:
                columns = arrow_columns(block)
                if columns is not None:
                    yield self._json_chunk(columns, list(range(row + 1, row + 1 + len(block))), [])
                    row += len(block)
                    continue
            for line in block:
                row += 1
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    bad.append((row, f"invalid JSON: {exc}", json.dumps(line[:10000])))
                    continue
                records.append(flatten_record(obj))
                nums.append(row)
            if len(records) >= size:
                yield self._json_chunk(_record_columns(records), nums, bad)
                records, nums, bad = [], [], []
        if records or bad or row == 0:
            yield self._json_chunk(_record_columns(records), nums, bad)

    def _json_chunk(self, columns: dict[str, pa.Array], nums, bad) -> SourceChunk:
        safe = {c: _safe_name(c) or "column" for c in columns}
        names = list(dict.fromkeys(safe.values()))
        if not self.info.header:
            self.info.header = names
        else:  # later chunks may add keys: keep the header the union, in first-seen order
            self.info.header += [c for c in names if c not in self.info.header]
        arrays: dict[str, pa.Array] = {}
        for orig, name in safe.items():
            if name not in arrays:  # two keys that sanitise alike: the first one wins
                arrays[name] = columns[orig]
        arrays[ROW_COLUMN] = pa.array(nums, pa.int64())
        return SourceChunk(pa.table(arrays), bad)

    # ------------------------------------------------------------------ Parquet

    def _parquet_chunks(self) -> Iterator[SourceChunk]:
        if self.info.compression:
            raise ReadError("gzip-compressed Parquet is not supported; Parquet compresses itself")
        try:
            pf = pq.ParquetFile(self.path)
        except Exception as exc:
            raise ReadError(f"cannot open Parquet: {exc}") from exc
        if any(pa.types.is_nested(f.type) for f in pf.schema_arrow):
            yield from self._nested_parquet_chunks(pf)
            return
        names = _clean_header(pf.schema_arrow.names)
        self.info.header = names
        start = 0
        emitted = False
        for batch in pf.iter_batches(batch_size=self.options.chunk_rows):
            arrays = {n: _to_string(col) for n, col in zip(names, batch.columns, strict=True)}
            arrays[ROW_COLUMN] = pa.array(range(start + 1, start + batch.num_rows + 1), pa.int64())
            start += batch.num_rows
            emitted = True
            yield SourceChunk(pa.table(arrays))
        if not emitted:
            arrays = {n: pa.array([], pa.string()) for n in names}
            arrays[ROW_COLUMN] = pa.array([], pa.int64())
            yield SourceChunk(pa.table(arrays))

    def _nested_parquet_chunks(self, pf: pq.ParquetFile) -> Iterator[SourceChunk]:
        """Nested Parquet (a GA4 BigQuery export: ``event_params`` as a list of ``{key,
        value}`` structs, ``device`` / ``geo`` / ``ecommerce`` as structs) flattens to the
        same columns as the same records in JSON lines (:func:`flatten_arrow`)."""
        start = 0
        for batch in pf.iter_batches(batch_size=self.options.chunk_rows):
            nums = list(range(start + 1, start + batch.num_rows + 1))
            start += batch.num_rows
            yield self._json_chunk(flatten_arrow(batch), nums, [])
        if start == 0:
            self.info.header = self.info.header or _clean_header(pf.schema_arrow.names)
            yield self._json_chunk({}, [], [])


# ---------------------------------------------------------------------------- helpers


def _with_header(rows: Iterable[list[str]], names: list[str], skip: int) -> Iterator[list[str]]:
    """The rows of a headerless file with ``names`` put after its ``skip`` title rows."""
    rows = iter(rows)
    yield from islice(rows, skip)
    yield names
    yield from rows


def _header_key(header: list[str]) -> list[str]:
    return [re.sub(r"[\s_]+", " ", h).strip().lower() for h in header]


def _binary_layout(sample: bytes, encoding: str) -> bool:
    """Whether a sample is not text (a workbook or Parquet given a text layout)."""
    if sample.startswith((b"PK\x03\x04", b"PAR1")):
        return True
    return "utf-16" not in encoding and b"\x00" in sample[:4096]


def _is_comment(text: str, prefix: str | None) -> bool:
    """``# Start date: ...`` / ``#----`` / ``#`` are comments; ``#ERROR!`` (a value) is not."""
    if not prefix:
        return False
    text = text.lstrip().lstrip("\ufeff")
    if not text.startswith(prefix):
        return False
    rest = text[len(prefix) :]
    return not rest or rest[0] in " \t-=#*"


def _clean_header(names: Iterable[str]) -> list[str]:
    """Trim names, name empty ones ``column_N`` and make duplicates unique (``name_2``)."""
    out: list[str] = []
    seen: Counter = Counter()
    for i, raw in enumerate(names, start=1):
        name = _safe_name(raw) or f"column_{i}"
        seen[name] += 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        out.append(name)
    return out


def _safe_name(raw) -> str:
    """A header name without BOM/control characters, never one of the reserved names."""
    name = re.sub(r"[\x00-\x1f\x7f\ufeff]", "", str(raw)).strip()
    if name.startswith("__"):  # __row and the lineage columns (__file, __hash, __at)
        name = "col" + name
    if name in RESERVED or name.startswith("v__"):
        name = f"{name}_source"
    return name


def _rows_chunk(header, rows, nums, bad) -> SourceChunk:
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(header)
    arrays = {name: pa.array(col, pa.string()) for name, col in zip(header, cols, strict=True)}
    arrays[ROW_COLUMN] = pa.array(nums, pa.int64())
    return SourceChunk(pa.table(arrays), bad)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _to_string(col: pa.Array) -> pa.Array:
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_nested(t) or pa.types.is_binary(t):
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()]
        )
    if pa.types.is_boolean(t):
        return pa.array(
            [None if v is None else ("true" if v else "false") for v in col.to_pylist()]
        )
    return col.cast(pa.string())


def _record_columns(records: list[dict[str, str | None]]) -> dict[str, pa.Array]:
    """Flattened records → one string column per key, in first-seen order."""
    keys = dict.fromkeys(k for rec in records for k in rec)
    return {k: pa.array([rec.get(k) for rec in records], pa.string()) for k in keys}
