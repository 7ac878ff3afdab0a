"""Landing → raw + quarantine, exactly once per file content.

For each landing file: sha256 → skip if the manifest knows it → open (format, encoding,
header) → choose the mapping → plan the columns (drift, missing required) → stream chunks
through the typing SQL → valid rows to ``raw/{entity}/{hash}.parquet``, failing rows to
``quarantine/{entity}/{hash}.parquet`` → fsync + rename → manifest JSON written last.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.core.contract import QUARANTINE_SCHEMA, Entity, entities, entity
from pipelines.core.contract import entities as all_entities
from pipelines.core.files import atomic_write_text, fsync_path, sha256_file
from pipelines.core.locks import INGEST_LOCK, exclusive_lock, pid_alive
from pipelines.core.manifest import Manifest
from pipelines.core.settings import home_paths, load_config
from pipelines.ingest.mapping import (
    Mapping,
    MappingError,
    MappingSet,
    MatchResult,
    choose_mapping,
    choose_readings,
    load_mapping_set,
    norm,
)
from pipelines.ingest.readers import (
    DEFAULT_CHUNK_ROWS,
    ROW_COLUMN,
    EmptyFile,
    GzipLimits,
    ReaderOptions,
    ReadError,
    SourceChunk,
    SourceFile,
)
from pipelines.ingest.setbased import PROBE_ROWS, SetLoader
from pipelines.ingest.transform import (
    _SRC_REF,
    LINEAGE_COLUMNS,
    Plan,
    compile_sql,
    configured_dates,
    make_plan,
    q,
    referenced_columns,
)
from pipelines.ingest.validate import deep_check

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", ".download", ".lock")
Progress = Callable[..., None]
MAX_LISTED = 40  # files listed by IngestReport.__str__ besides the rejected ones
MAX_OPEN_FILES = 2000  # files read and waiting for their batch to be typed
SET_SCAN_BATCHES = 2  # rows waiting for a set-based scan, in batches (DEFAULT_CHUNK_ROWS)
READ_AHEAD_THREADS = 2  # JSON-lines files opened (parsed, flattened) ahead, side by side
READ_AHEAD_FILES = 4  # at most this many opened files waiting for the loop (bounded memory)
JSONL_NAME = re.compile(r"\.(jsonl|ndjson|json)(\.gz)?$", re.IGNORECASE)
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
log = logging.getLogger(__name__)


class IngestDiskFull(OSError):
    """The disk filled up (or a file size limit was hit) while writing raw or quarantine."""


class FileRejected(Exception):
    """The whole file is refused (unreadable, no/ambiguous mapping, missing required column)."""


@dataclass
class FileResult:
    """What happened to one landing file (also the manifest record)."""

    file: str
    file_hash: str
    size: int
    mtime: str
    mtime_ns: int
    status: str  # loaded | rejected | skipped_duplicate
    entity: str | None = None
    mapping: str | None = None
    source_system: str | None = None
    reader: str = ""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_written: int = 0  # raw rows after aggregation (= rows_loaded unless aggregated)
    rows_skipped: dict[str, int] = field(default_factory=dict)  # footers, comments, blanks
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    drift: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    date_order: list[str] = field(default_factory=list)  # day/month order evidence
    ingested_at: str = ""
    reading: str = "primary"  # "additional": a further reading (another entity) of the file
    mappings_hash: str = ""  # the mapping set it was matched under (a rejection is retried
    # by the first run under another set)
    read_by: str = ""  # "duckdb": the set-based scan (setbased.py); "python": the Python reader
    read_by_why: str = ""  # why the Python reader read it (the file's shape, or the scan off)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)  # one per reading of a file
    unchanged: int = 0  # files already handled (same name, size and mtime): not re-hashed
    ingested_at: str = ""
    invalid_mappings: list[str] = field(default_factory=list)  # one line each

    def for_entity(self, name: str) -> list[FileResult]:
        return [f for f in self.files if f.entity == name]

    def by_entity(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for f in self.files:
            e = out.setdefault(
                f.entity or "(unmapped)",
                Counter(rows_read=0, rows_loaded=0, rows_quarantined=0, rows_written=0),
            )
            e["rows_read"] += f.rows_read
            e["rows_loaded"] += f.rows_loaded
            e["rows_quarantined"] += f.rows_quarantined
            e["rows_written"] += f.rows_written
            e[f"files_{f.status}"] += 1
        return {k: dict(v) for k, v in out.items()}

    @property
    def rejected(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "rejected"]

    def __str__(self) -> str:
        files = len({(f.file, f.file_hash) for f in self.files})
        extra = len(self.files) - files  # further readings of the same files
        lines = [
            f"ingest at {self.ingested_at}: {files} new file(s), {self.unchanged} unchanged"
            + (f", {extra} further reading(s)" if extra else "")
        ]
        lines += [f"  invalid mapping (its files rejected): {e}" for e in self.invalid_mappings]
        for name, e in self.by_entity().items():
            lines.append(
                f"  {name}: read {e['rows_read']}, loaded {e['rows_loaded']}, "
                f"quarantined {e['rows_quarantined']}"
            )
        shown = [f for f in self.files if f.status == "rejected"] + [
            f for f in self.files if f.status != "rejected"
        ][:MAX_LISTED]
        for f in shown:
            lines.append(
                f"  {f.status:<17} {f.file} → {f.entity or '-'} ({f.mapping or '-'}): "
                f"read {f.rows_read}, loaded {f.rows_loaded}, quarantined {f.rows_quarantined}"
                + (f" — {f.reason}" if f.reason else "")
            )
        if len(self.files) > len(shown):
            lines.append(f"  ... and {len(self.files) - len(shown)} more file(s)")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- discovery


def landing_files(landing: Path) -> Iterator[Path]:
    """Regular files under ``landing`` (recursively), skipping hidden, temp and symlinks."""
    for root, dirs, files in os.walk(landing, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if is_candidate(name) and not Path(root, name).is_symlink():
                yield Path(root) / name


def is_candidate(name: str) -> bool:
    low = name.lower()
    return not (low.startswith((".", "~$", "_")) or low.endswith(TEMP_SUFFIXES))


def write_schema_files(raw_dir: Path) -> None:
    """``raw/{entity}/_schema.parquet``: zero rows, full typed schema, for every entity."""
    for ent in entities().values():
        target = raw_dir / ent.name / "_schema.parquet"
        schema = ent.arrow_schema()
        if target.exists():
            try:
                if pq.read_schema(target).equals(schema):
                    continue
            except Exception:  # unreadable: rewrite it
                pass
        _atomic_parquet(target, schema.empty_table())


def _atomic_parquet(target: Path, table: pa.Table) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    fsync_path(tmp)
    os.replace(tmp, target)


# ---------------------------------------------------------------------------- public API


def run_ingest(
    home: Path | str,
    entities: list[str] | None = None,
    progress: Progress | None = None,
    set_based: bool = True,
) -> IngestReport:
    """Load every new landing file of ``home`` (optionally only those of ``entities``).

    Delimited files DuckDB can read are read set-based: all new files of one mapping by one
    DuckDB scan (``setbased.py``); the others by the Python readers, where small files that
    share a mapping and a header are typed together in one SQL query (see
    :class:`Batcher`). Each file gets its own raw/quarantine Parquet and manifest either way.
    ``set_based=False`` reads every file with the Python readers (the reference path).
    JSON lines (GA4) are read by the vectorised Python reader, opened ahead of the loop on
    two threads (:class:`ReadAhead`).
    """
    paths = home_paths(home).ensure()
    wanted = set(entities) if entities else None
    for name in wanted or ():
        entity(name)  # unknown entity names fail loudly
    if wanted is not None and wanted >= set(all_entities()):
        wanted = None  # every entity: a full run (it may record the readings' state)
    # one ingest per home at a time (a sensor run and a manual run); a kernel lock, so a
    # killed ingest never leaves it held
    with exclusive_lock(paths.state / INGEST_LOCK, "ingest", log):
        try:
            with configured_dates(load_config(paths.root).get("ingest")):  # the date window
                return _run_ingest(paths, wanted, progress, set_based)
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise IngestDiskFull(
                    f"disk full while writing under {paths.root} ({exc.strerror}); nothing "
                    "half-written was kept: free space and run again (loaded files are kept)"
                ) from exc
            raise


READINGS_STATE = "ingest_readings.json"  # in {home}/state/: see ``rematch_needed``


def rematch_needed(paths, mset: MappingSet) -> bool:
    """Whether loaded files must be matched again for new ``reading: additional`` mappings:
    the set of those mappings differs from the one every loaded file was matched under."""
    state = paths.state / READINGS_STATE
    try:
        saved = json.loads(state.read_text()).get("additional_hash", "")
    except (OSError, ValueError):
        saved = ""
    return saved != mset.additional_hash


def _record_rematch(paths, mset: MappingSet, full_run: bool) -> None:
    state = paths.state / READINGS_STATE
    if not full_run:  # readings of unwanted entities were left: the next full run looks again
        state.unlink(missing_ok=True)
    elif mset.additional_hash:
        atomic_write_text(state, json.dumps({"additional_hash": mset.additional_hash}))
    else:
        state.unlink(missing_ok=True)


def needs_another_look(records: list[dict], mset: MappingSet, rematch: bool, rel: str) -> bool:
    """An unchanged, already handled file is opened again only when the mappings changed in
    a way that concerns it: it was rejected under another mapping set (retried: "no
    mapping", an invalid mapping, a missing column), or a new ``reading: additional``
    mapping might read it too."""
    for r in records:
        if r.get("status") == "rejected" and r.get("mappings_hash") != mset.hash:
            return True
    if rematch and mset.additional_hash and mset.could_add_reading(rel):
        return any(r.get("status") == "loaded" for r in records)
    return False


def _run_ingest(
    paths,
    wanted: set[str] | None,
    progress: Progress | None,
    set_based: bool = True,
) -> IngestReport:
    mset = deep_check(load_mapping_set(paths.root), only_user=True)  # shipped ones are tested
    gzip_limits = GzipLimits.from_config(load_config(paths.root).get("ingest"))
    manifest = Manifest(paths.manifest)
    clean_stale_temp_files(paths)
    write_schema_files(paths.raw)
    now = datetime.now(UTC).replace(tzinfo=None)
    report = IngestReport(ingested_at=now.isoformat(sep=" "))
    report.invalid_mappings = [b.error for b in mset.broken]
    for line in report.invalid_mappings:
        log.warning("invalid mapping: only the files it matches are rejected: %s", line)
    handled = manifest.handled_index()
    rematch = rematch_needed(paths, mset)
    con = sandbox()  # one sandbox per run: connecting costs more than typing a small file
    batcher = Batcher(con, paths, manifest, sets=SetLoader(paths.landing) if set_based else None)
    # Oldest first, so that when two versions of an export land together the newer one gets
    # the later _ingested_at (each file gets its own timestamp) and wins deduplication.
    files = sorted(landing_files(paths.landing), key=lambda p: (p.stat().st_mtime_ns, str(p)))

    def ingest(path, rel, at, records, source=None) -> None:
        report.files += ingest_readings(
            path,
            rel,
            paths,
            mset,
            manifest,
            at,
            wanted,
            batcher,
            gzip_limits,
            file_hash=records[0]["file_hash"] if records else None,
            rematch=rematch,
            source=source,
        )

    work = []
    for path in files:
        rel = path.relative_to(paths.landing).as_posix()
        st = path.stat()
        records = handled.get((rel, st.st_size, st.st_mtime_ns))
        unchanged = records is not None and not needs_another_look(records, mset, rematch, rel)
        work.append((path, rel, records, unchanged))
    ahead = ReadAhead(
        [w[0] for w in work if not w[3] and JSONL_NAME.search(w[0].name)],
        ReaderOptions(gzip=gzip_limits),
        PROBE_ROWS if batcher.sets is not None else None,  # as _ingest_readings opens it
    )
    try:
        for i, (path, rel, records, unchanged) in enumerate(work, start=1):
            if progress:
                progress(i - 1, len(files), rel)
            if unchanged:
                report.unchanged += 1
                continue
            at = max(now, datetime.now(UTC).replace(tzinfo=None))
            ingest(path, rel, at, records, source=ahead.take(path))
        batcher.flush_all()
    except BaseException:
        batcher.abort()
        raise
    finally:
        ahead.close()
        con.close()
    _record_rematch(paths, mset, wanted is None)
    if progress:
        progress(len(files), len(files), "done")
    return report


class ReadAhead:
    """JSON-lines files opened ahead of the file loop on ``READ_AHEAD_THREADS`` threads
    (pyarrow's JSON parser, gzip and most of the flattening release the GIL), at most
    ``READ_AHEAD_FILES`` waiting. Only the reading moves: the loop still takes the files one
    by one, in order, with their own ``_ingested_at``, duplicate check, typing, Parquet and
    manifest. ``take(path)`` is a future of the file's opened :class:`SourceFile` (its first
    chunk read), exactly what the loop would have opened itself; a reading error is raised
    by ``result()`` where the loop would have raised it."""

    def __init__(self, paths: list[Path], options: ReaderOptions, probe_rows: int | None):
        self.todo = list(reversed(paths))
        self.options, self.probe_rows = options, probe_rows
        self.futures: dict[Path, Future] = {}
        self.pool = ThreadPoolExecutor(READ_AHEAD_THREADS, thread_name_prefix="read-ahead")
        self._fill()

    def _fill(self) -> None:
        while self.todo and len(self.futures) < READ_AHEAD_FILES:
            path = self.todo.pop()
            self.futures[path] = self.pool.submit(
                SourceFile, path, self.options, csv_probe_rows=self.probe_rows
            )

    def take(self, path: Path) -> Future | None:
        future = self.futures.pop(path, None)
        self._fill()
        return future

    def close(self) -> None:
        self.todo.clear()
        for future in self.futures.values():
            future.cancel()
        self.pool.shutdown(wait=True)
        self.futures.clear()


def ingest_file(
    path: Path,
    rel: str,
    paths,
    mappings: dict[str, Mapping] | MappingSet,
    manifest: Manifest,
    ingested_at: datetime,
    wanted: set[str] | None = None,
    batcher: Batcher | None = None,
    gzip_limits: GzipLimits | None = None,
) -> FileResult | None:
    """Load one file; its first reading's result (``None``: no reading among ``wanted``)."""
    if not isinstance(mappings, MappingSet):
        mappings = MappingSet(mappings=dict(mappings))
    results = ingest_readings(
        path, rel, paths, mappings, manifest, ingested_at, wanted, batcher, gzip_limits
    )
    return results[0] if results else None


def ingest_readings(
    path: Path,
    rel: str,
    paths,
    mset: MappingSet,
    manifest: Manifest,
    ingested_at: datetime,
    wanted: set[str] | None = None,
    batcher: Batcher | None = None,
    gzip_limits: GzipLimits | None = None,
    file_hash: str | None = None,
    rematch: bool = False,
    source: Future | None = None,
) -> list[FileResult]:
    """Load one file through each of its readings (one per entity: the primary mapping and
    any ``reading: additional`` ones); a reading already loaded is never loaded again.

    A file rejected under another mapping set is tried again (its rejected readings are
    overwritten; a rejection no mapping makes any more is dropped). Readings of entities
    not among ``wanted`` are left for later. With a ``batcher`` a reading's last (small)
    chunk may still be pending when this returns: its Parquet and manifest are written
    when the batch is flushed. ``source``: the file already opened ahead (:class:`ReadAhead`), used instead of opening it here.
    """
    st = path.stat()
    file_hash = file_hash or sha256_file(path)

    def new_result(**kw) -> FileResult:
        kw = {"status": "loaded", **kw}
        return FileResult(
            file=rel,
            file_hash=file_hash,
            size=st.st_size,
            mtime=datetime.fromtimestamp(st.st_mtime, UTC).isoformat(),
            mtime_ns=st.st_mtime_ns,
            ingested_at=ingested_at.isoformat(sep=" "),
            mappings_hash=mset.hash,
            **kw,
        )

    own_batcher = batcher is None
    if own_batcher:
        batcher = Batcher(sandbox(), paths, manifest)
    try:
        return _ingest_readings(
            path, rel, paths, mset, manifest, ingested_at, wanted, batcher, gzip_limits,
            file_hash, rematch, new_result, source,
        )  # fmt: skip
    finally:
        if own_batcher:
            batcher.flush_all()
            batcher.con.close()


def _ingest_readings(
    path, rel, paths, mset, manifest, ingested_at, wanted, batcher, gzip_limits, file_hash,
    rematch, new_result, ahead=None,
) -> list[FileResult]:  # fmt: skip
    if file_hash in batcher.open_hashes:  # same content earlier in this run, not yet written
        batcher.flush_all()
    existing = manifest.readings(file_hash)
    if existing and not needs_another_look(existing, mset, rematch, rel):
        known = existing[0]
        result = new_result(status="skipped_duplicate", duplicate_of=known["file"])
        result.entity, result.mapping = known.get("entity"), known.get("mapping")
        result.reason = f"same content as {known['file']} (ingested {known['ingested_at']})"
        manifest.write_duplicate(result.to_dict())
        return [result]
    limits = gzip_limits or GzipLimits()
    # a delimited file the set-based scan may read is probed on its first rows only
    probe_rows = PROBE_ROWS if batcher.sets is not None else None
    try:
        if ahead is not None:  # opened by ReadAhead with the same options
            probe = ahead.result()
        else:
            probe = SourceFile(path, ReaderOptions(gzip=limits), csv_probe_rows=probe_rows)
        readings = choose_readings(mset, rel, probe.header)
    except EmptyFile:
        result = new_result(reason="empty file: nothing to load")  # e.g. a day without events
        manifest.write(result.to_dict())
        return [result]
    except (ReadError, UnicodeError) as exc:  # not a table: the whole file is rejected
        probe, readings = None, [MatchResult(None, [], str(exc))]
    loaded = {r.get("entity") for r in existing if r.get("status") == "loaded"}
    primary_loaded = any(
        r.get("status") == "loaded" and r.get("reading", "primary") == "primary" for r in existing
    )
    todo, deferred = [], set()
    for reading in readings:
        ent = reading.entity_name
        if (ent is not None and ent in loaded) or (not reading.additional and primary_loaded):
            continue  # exactly once per (file, entity); a loaded file keeps its primary
        result = new_result(entity=ent, reading="additional" if reading.additional else "primary")
        if wanted is not None and ent is not None and ent not in wanted:
            deferred.add(manifest.record_path(result.to_dict()))
            continue  # left for a run that wants this entity
        todo.append((reading, result))
    slots = {manifest.record_path(r.to_dict()) for _, r in todo}
    kept = []
    for old in existing:
        if old.get("status") != "rejected" or manifest.record_path(old) in slots:
            continue
        if manifest.record_path(old) in deferred:
            kept.append(old)  # its entity is not wanted by this run: tried later
        else:
            manifest.delete(old)  # a rejection that no reading makes any more
    if existing:
        _clear_reasons(paths.rejected, file_hash)  # rewritten by the readings still rejected
        for old in kept:
            _reject(path, paths.rejected, file_hash, old["reason"])
    results = []
    for reading, result in todo:
        results.append(result)
        job = None
        try:
            if reading.mapping is None:
                result.mapping = reading.name  # an invalid mapping: named in the manifest
                raise FileRejected(reading.reason)
            mapping = reading.mapping
            result.mapping, result.source_system = mapping.name, mapping.source_system
            source = (
                probe
                if not reading.additional
                else SourceFile(
                    path,
                    ReaderOptions(gzip=limits),
                    csv_probe_rows=probe_rows,
                )
            )
            source, plan = open_reading(path, mapping, source, limits)
            result.reader = source.info.describe()
            result.drift = plan.drift_notes
            job = FileJob(path, rel, file_hash, ingested_at, result, source, plan, paths)
            job.retry = bool(existing)
            batcher.add_file(job)
        except EmptyFile:
            result.reason = "empty file: nothing to load"
            manifest.write(result.to_dict())
        except (FileRejected, ReadError, MappingError, duckdb.Error, UnicodeError) as exc:
            if job is None:
                job = FileJob.rejected(path, rel, file_hash, result, paths)
                job.retry = bool(existing)
            job.fail(exc)
            batcher.finish(job)
    if existing and not batcher.pending_for(file_hash):
        _tidy_rejected(paths, manifest, file_hash)
    return results


def open_reading(path: Path, mapping: Mapping, source: SourceFile, limits: GzipLimits):
    """Reopen with the mapping's reader options (when it has any) and plan the columns."""
    if mapping.reader != ReaderOptions():
        rows = source.options.chunk_rows  # a probe stays a probe (delimited files only)
        source = SourceFile(
            path,
            dataclasses.replace(mapping.reader, gzip=limits),
            csv_probe_rows=rows if rows != DEFAULT_CHUNK_ROWS else None,
        )
    plan = make_plan(mapping, source.header, source.info.delimiter, source.info.preamble)
    if plan.missing_required:
        raise FileRejected("; ".join(plan.missing_required))
    if mapping.drift_policy == "reject" and plan.unmapped:
        raise FileRejected(
            f"schema drift (policy reject): unexpected column(s) {', '.join(plan.unmapped)}"
        )
    return source, plan


def open_mapped(
    path: Path,
    rel: str,
    mappings: dict[str, Mapping] | MappingSet,
    gzip_limits: GzipLimits | None = None,
):
    """Open a file, choose its primary mapping, reopen with the mapping's reader options,
    plan it."""
    limits = gzip_limits or GzipLimits()
    source = SourceFile(path, ReaderOptions(gzip=limits))
    match = choose_mapping(mappings, rel, source.header)
    if match.mapping is None:
        raise FileRejected(match.reason)
    source, plan = open_reading(path, match.mapping, source, limits)
    return source, match.mapping, plan


def clean_stale_temp_files(paths) -> list[Path]:
    """Remove temp files (``.{name}.{pid}.tmp``) that a killed run left in the home.

    A temp file of a process that is still alive (a concurrent run) is left alone. Stale
    temp files are harmless (readers only glob ``[0-9a-f]*.parquet``) but are removed so a
    crash leaves no litter; each removal is logged.
    """
    removed = []
    for folder in (paths.raw, paths.quarantine, paths.manifest, paths.rejected):
        if not folder.is_dir():
            continue
        for tmp in folder.rglob(".*.tmp"):
            m = _TEMP_PID.search(tmp.name)
            if m and _pid_alive(int(m.group(1))):
                continue
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
            log.warning(
                "removed stale temp file %s (left by an interrupted run; its file is "
                "re-ingested because no manifest was written for it)",
                tmp.relative_to(paths.root),
            )
    return removed


_TEMP_PID = re.compile(r"\.(\d+)(?:\.[^.]*)?\.tmp$")


def _pid_alive(pid: int) -> bool:
    # our own leftovers cannot be in use before the run starts
    return pid != os.getpid() and pid_alive(pid)


# ---------------------------------------------------------------------------- core


def sandbox() -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB without file system access: mapping SQL cannot touch files."""
    con = duckdb.connect(
        config={
            "enable_external_access": False,
            "threads": 1,
            "memory_limit": "512MB",
        }
    )
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET lock_configuration = true")
    return con


def sql_columns(plan: Plan) -> list[str]:
    """The source columns the typing SQL reads (absent ones are passed as NULL).

    Only these go into the query, so files of one mapping with different extra columns
    (GA4 events vary per day) compile to the same SQL and are typed together.
    """
    m = plan.mapping
    if _expr_reads_whole_src(m):
        return [c for c in plan.header if c not in m.ordinals]
    cols = referenced_columns(m, plan.header)
    cols += [c for found in plan.sources.values() for c in found]
    if m.drift_policy == "evolve":
        cols += plan.unmapped
    cols += list(m.ordinals)
    return list(dict.fromkeys(cols))


def _expr_reads_whole_src(mapping: Mapping) -> bool:
    """An ``expr`` that uses ``src`` other than as ``src."Column"`` needs every column."""
    for spec in mapping.columns.values():
        if spec.expr and re.search(r"\bsrc\b", _SRC_REF.sub("", spec.expr)):
            return True
    return False


def run_typing(con: duckdb.DuckDBPyConnection, sql: str, table: pa.Table) -> pa.Table:
    con.register("chunk", table)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("chunk")


def identifying_columns(mapping: Mapping) -> list[str]:
    """The entity's ``identified_by`` columns this mapping maps (a const proves nothing): a
    file that loads rows with every one of them null has a layout the mapping cannot read."""
    specs = mapping.columns
    return [c for c in mapping.entity.identified_by if c in specs and specs[c].const is None]


def unidentified_reason(mapping: Mapping, columns: list[str]) -> str:
    return (
        f"every row has no value in any of {', '.join(columns)}: the file does not have the "
        f"layout mapping {mapping.name} reads (check it with `segmart mappings check`)"
    )


class FileJob:
    """One landing file being loaded: its plan, per-file state and output writers."""

    def __init__(self, path, rel, file_hash, ingested_at, result, source, plan, paths):
        self.path, self.rel, self.file_hash = path, rel, file_hash
        self.ingested_at, self.result, self.source, self.plan = ingested_at, result, source, plan
        self.paths = paths
        self.pending = 0  # chunks handed to the batcher and not typed yet
        self.key = (file_hash, result.entity if result is not None else None)  # one reading
        self.retry = False  # the file was handled before (a retry under other mappings)
        self.read_all = False
        self.failed = False
        self.reasons: Counter = Counter()
        if plan is None:  # rejected before planning
            return
        ent = plan.mapping.entity
        self.entity = ent
        self.fill = FillDown(plan.mapping, plan.header)
        self.ordinals = Ordinals(plan.mapping, plan.header)
        self.columns = sql_columns(plan)
        self.sql = compile_sql(plan, [ROW_COLUMN, *LINEAGE_COLUMNS, *self.columns])
        if paths is not None:  # None: a dry run (``typed_chunks``) that writes nothing
            raw_target = paths.raw / ent.name / f"{file_hash}.parquet"
            self.raw = _Writer(raw_target, ent.arrow_schema())
            self.quar = _Writer(
                paths.quarantine / ent.name / f"{file_hash}.parquet", QUARANTINE_SCHEMA
            )
        self.agg = Aggregator(plan.mapping, ent) if plan.mapping.aggregate else None
        self.identifying = identifying_columns(plan.mapping)
        self.identified = not self.identifying

    @classmethod
    def rejected(cls, path, rel, file_hash, result, paths) -> FileJob:
        return cls(path, rel, file_hash, None, result, None, None, paths)

    def prepare(self, chunk: SourceChunk) -> tuple[pa.Table, pa.Table]:
        """(table the SQL reads, the file's own cells for quarantine records)."""
        record = self.fill.apply(chunk.table)
        table = self.ordinals.add(record)
        n = table.num_rows
        arrays = [
            table[ROW_COLUMN],
            pa.array([self.rel] * n, pa.string()),
            pa.array([self.file_hash] * n, pa.string()),
            pa.array([self.ingested_at] * n, pa.timestamp("us")),
        ]
        have = set(table.column_names)
        arrays += [table[c] if c in have else pa.nulls(n, pa.string()) for c in self.columns]
        names = [ROW_COLUMN, *LINEAGE_COLUMNS, *self.columns]
        return pa.Table.from_arrays(arrays, names=names), record

    def split(self, out: pa.Table, record: pa.Table, chunk: SourceChunk):
        """Typed output of this file's chunk → (valid raw rows, quarantine rows)."""
        ent = self.entity
        bad_mask = pc.is_valid(out["_reason"])
        good = out.filter(pc.invert(bad_mask)).select(ent.arrow_schema().names)
        self.plan.date_order.add(out)  # which day/month order the file's dates fit
        bad = out.filter(bad_mask)
        quarantined = pa.table(
            {
                "_source_file": bad["_source_file"],
                "_source_row": bad["_source_row"],
                "_source_system": bad["_source_system"],
                "_mapping": bad["_mapping"],
                "_file_hash": bad["_file_hash"],
                "_ingested_at": bad["_ingested_at"],
                "reason": bad["_reason"],
                "record": _records(record, bad["_source_row"]),
            }
        )
        if chunk.malformed:
            quarantined = pa.concat_tables(
                [quarantined, _malformed_table(chunk, self.plan.mapping, self)]
            )
        return good.cast(ent.arrow_schema()), quarantined.cast(QUARANTINE_SCHEMA)

    def split_set(self, out: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Typed output of the set-based scan for this file → (raw rows, the rows to
        quarantine: lineage, ``_reason``, ``__fill``); setbased.py adds their records."""
        ent = self.entity
        bad_mask = pc.is_valid(out["_reason"])
        good = out.filter(pc.invert(bad_mask)).select(ent.arrow_schema().names)
        self.plan.date_order.add(out)
        return good.cast(ent.arrow_schema()), out.filter(bad_mask)

    def reset(self) -> None:
        """Forget rows accepted so far (after ``abort``): the file is read again."""
        r = self.result
        r.rows_loaded = r.rows_quarantined = r.rows_written = 0
        self.reasons.clear()
        self.identified = not self.identifying
        self.plan.date_order.counts.clear()
        self.plan.date_order.samples.clear()
        self.raw.rows = self.quar.rows = 0
        self.read_all = False

    def accept(self, good: pa.Table, bad: pa.Table) -> None:
        self.result.rows_loaded += good.num_rows
        self.result.rows_quarantined += bad.num_rows
        if not self.identified and good.num_rows:
            self.identified = any(good[c].null_count < good.num_rows for c in self.identifying)
        if self.agg is not None:
            self.agg.add(good)
        else:
            self.raw.write(good)
        self.quar.write(bad)
        self.reasons.update(_reason_kinds(bad["reason"].to_pylist()))

    def fail(self, exc: BaseException) -> None:
        """The whole file is rejected (reason names the file); partial output is dropped."""
        self.failed = True
        r = self.result
        r.status, r.reason = "rejected", f"{self.rel}: {exc}"
        r.rows_read = r.rows_loaded = r.rows_quarantined = r.rows_written = 0
        r.rows_skipped, r.quarantine_reasons = {}, {}
        if self.plan is not None:
            self.raw.abort()
            self.quar.abort()

    def commit(self, con: duckdb.DuckDBPyConnection) -> set[Path]:
        """Write the file's Parquet (fsync + rename); the caller syncs the directories
        returned, then writes the manifest last."""
        r = self.result
        if r.rows_loaded and not self.identified:
            raise FileRejected(unidentified_reason(self.plan.mapping, self.identifying))
        if self.agg is not None:
            self.raw.write(self.agg.result(con))
        r.rows_written = self.raw.rows
        r.date_order = self.plan.date_order.notes()
        r.rows_read = r.rows_loaded + r.rows_quarantined
        r.rows_skipped = dict(self.source.info.skipped)
        r.quarantine_reasons = dict(self.reasons.most_common(20))
        return {d for d in (self.raw.commit(), self.quar.commit()) if d is not None}

    def abort(self) -> None:
        if self.plan is not None:
            self.raw.abort()
            self.quar.abort()


class Batcher:
    """Types the chunks of many files with few queries, then writes each file on its own.

    Planning the typing SQL costs ~0.2 s whatever the row count, and a landing folder holds
    hundreds of small daily files. Chunks whose compiled SQL is identical (same mapping,
    header resolution, vars, decimal) are concatenated, with lineage as columns, up to
    ``max_rows`` rows, typed in one query and split back by ``_file_hash``. A file's
    Parquet and manifest are written as soon as all its chunks are typed; a query error in a
    batch is retried file by file, so it rejects only the file that caused it.
    """

    def __init__(
        self,
        con,
        paths,
        manifest: Manifest,
        max_rows: int | None = None,
        sets: SetLoader | None = None,
    ):
        self.con, self.paths, self.manifest = con, paths, manifest
        self.sets = sets  # files read set-based wait here (None: every file read in Python)
        self.max_rows = max_rows or DEFAULT_CHUNK_ROWS
        if sets is not None:  # a scan every ~2 batches' rows: a long run commits as it goes
            sets.scan_rows = SET_SCAN_BATCHES * self.max_rows
        self.groups: dict[str, list[tuple[FileJob, pa.Table, pa.Table, SourceChunk]]] = {}
        self.rows: Counter = Counter()
        self.jobs: dict[tuple, FileJob] = {}  # by (hash, entity): read, not yet written

    @property
    def open_hashes(self) -> set[str]:
        return {key[0] for key in self.jobs}

    def pending_for(self, file_hash: str) -> bool:
        return file_hash in self.open_hashes

    def add_file(self, job: FileJob) -> None:
        """Hand ``job`` to the set-based scan, or read it here (every chunk; big files
        stream chunk by chunk, in order)."""
        if self.sets is not None:
            why = self.sets.offer(job)
            if why is None:  # read by the next set-based scan (flush_all)
                self.jobs[job.key] = job
                if self.sets.full():
                    self.flush_sets()
                return
            job.result.read_by_why = why
        else:
            job.result.read_by_why = "set-based ingest off"
        self.read_python(job)

    def read_python(self, job: FileJob) -> None:
        """Read every chunk of ``job`` with the Python reader."""
        job.result.read_by = "python"
        self.jobs[job.key] = job
        try:
            if job.source.options.chunk_rows != DEFAULT_CHUNK_ROWS:  # a probe: open it whole
                opts = dataclasses.replace(job.source.options, chunk_rows=DEFAULT_CHUNK_ROWS)
                job.source = SourceFile(job.path, opts)
            for k, chunk in enumerate(job.source.chunks()):
                if k == 1:  # more than one chunk: keep the file's row order, no batching
                    self.flush_groups()
                self._add(job, chunk)
                if k >= 1:
                    self.flush_groups()
        except (ReadError, UnicodeError) as exc:  # unreadable further down the file
            job.fail(exc)
        job.read_all = True
        if job.pending == 0:
            self.finish(job)

    def _add(self, job: FileJob, chunk: SourceChunk) -> None:
        table, record = job.prepare(chunk)
        job.pending += 1
        self.groups.setdefault(job.sql, []).append((job, table, record, chunk))
        self.rows[job.sql] += table.num_rows
        if self.rows[job.sql] >= self.max_rows:
            self.flush(job.sql)
        if sum(self.rows.values()) >= self.max_rows:
            self.flush_groups()
        if len(self.jobs) > MAX_OPEN_FILES:
            self.flush_all()

    def flush_all(self) -> None:
        self.flush_sets()
        self.flush_groups()

    def flush_sets(self) -> None:
        """Run the set-based scans of the files waiting for them."""
        if self.sets is not None:
            self.sets.flush(self.read_python, self.finish)

    def flush_groups(self) -> None:
        """Type the chunks the Python readers have read."""
        for sql in list(self.groups):
            self.flush(sql)

    def flush(self, sql: str) -> None:
        items = self.groups.pop(sql, [])
        self.rows.pop(sql, None)
        live = [it for it in items if not it[0].failed]
        outs = self._type(sql, live)
        for (job, _table, record, chunk), out in zip(live, outs, strict=True):
            job.pending -= 1
            if job.failed:
                continue
            if isinstance(out, BaseException):
                job.fail(out)
            else:
                job.accept(*job.split(out, record, chunk))
        done = {job.key: job for job, *_ in items if job.read_all and job.pending <= 0}
        self.finish(*(job for key, job in done.items() if key in self.jobs))

    def _type(self, sql: str, items) -> list:
        """Typed output per item; a batch that errors is retried item by item."""
        if not items:
            return []
        if len(items) > 1:
            try:
                out = run_typing(self.con, sql, pa.concat_tables([it[1] for it in items]))
                return _split_by_file(out, [it[0].file_hash for it in items])
            except duckdb.Error:
                pass
        outs: list = []
        for it in items:
            try:
                outs.append(run_typing(self.con, sql, it[1]))
            except duckdb.Error as exc:
                outs.append(exc)
        return outs

    def finish(self, *jobs: FileJob) -> None:
        """Commit the files' Parquet (or copy them to rejected/), then their manifests — last.

        Each directory written is synced once for all the files, before any of their
        manifests is written (a file's fsync and rename alone do not make the rename durable).
        """
        synced: set[Path] = set()
        for job in jobs:
            self.jobs.pop(job.key, None)
            if not job.failed:
                try:
                    synced |= job.commit(self.con)
                except (duckdb.Error, MappingError, FileRejected) as exc:
                    job.fail(exc)
                except BaseException:  # e.g. disk full: drop this file's temp output too
                    job.abort()
                    raise
            if job.failed:
                _reject(job.path, self.paths.rejected, job.file_hash, job.result.reason)
        for folder in sorted(synced):
            fsync_path(folder)
        self.manifest.write(*(job.result.to_dict() for job in jobs))
        for file_hash in {job.file_hash for job in jobs if job.retry}:
            if not self.pending_for(file_hash):  # every reading of the retried file written
                _tidy_rejected(self.paths, self.manifest, file_hash)

    def abort(self) -> None:
        """Drop the temp output of files not finished (an exception is propagating)."""
        for job in self.jobs.values():
            job.abort()
        self.jobs.clear()
        self.groups.clear()


def _split_by_file(out: pa.Table, hashes: list[str]) -> list[pa.Table]:
    """Rows of a batch output per file (a file appears at most once per batch)."""
    codes = pc.index_in(out["_file_hash"], value_set=pa.array(hashes, pa.string()))
    return [out.filter(pc.equal(codes, i)) for i in range(len(hashes))]


def _records(record: pa.Table, rows: pa.ChunkedArray) -> pa.Array:
    """The original cells of quarantined rows as JSON objects (header name → text)."""
    if len(rows) == 0:
        return pa.array([], pa.string())
    idx = pc.index_in(rows, value_set=record[ROW_COLUMN].combine_chunks())
    cols = [c for c in record.column_names if c != ROW_COLUMN]
    picked = record.select(cols).take(idx).to_pylist()
    return pa.array(
        [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in picked], pa.string()
    )


def typed_chunks(
    source: SourceFile,
    plan: Plan,
    rel: str,
    file_hash: str,
    ingested_at: datetime,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[tuple[pa.Table, pa.Table, SourceChunk]]:
    """(valid rows, quarantined rows, chunk) per chunk, typed per the mapping (dry runs)."""
    own_con = con is None
    con = sandbox() if con is None else con
    job = FileJob(None, rel, file_hash, ingested_at, None, source, plan, None)
    try:
        for chunk in source.chunks():
            table, record = job.prepare(chunk)
            good, bad = job.split(run_typing(con, job.sql, table), record, chunk)
            yield good, bad, chunk
    finally:
        if own_con:
            con.close()


def _reason_kinds(reasons: list[str]) -> Iterator[str]:
    """Group reasons for the manifest: values stripped (``bad date '…' in ordered_at``)."""
    for r in reasons:
        for part in r.split("; "):
            yield re.sub(r"'.*'", "'…'", part)


def _malformed_table(chunk: SourceChunk, mapping: Mapping, job: FileJob):
    n = len(chunk.malformed)
    return pa.table(
        {
            "_source_file": [job.rel] * n,
            "_source_row": pa.array([m[0] for m in chunk.malformed], pa.int64()),
            "_source_system": [mapping.source_system] * n,
            "_mapping": [mapping.name] * n,
            "_file_hash": [job.file_hash] * n,
            "_ingested_at": pa.array([job.ingested_at] * n, pa.timestamp("us")),
            "reason": [m[1] for m in chunk.malformed],
            "record": [m[2] for m in chunk.malformed],
        }
    )


class _Writer:
    """Incremental Parquet writer to a temp name; ``commit`` fsyncs and renames."""

    def __init__(self, target: Path, schema: pa.Schema):
        self.target, self.schema = target, schema
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.writer is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        self.writer.write_table(table)
        self.rows += table.num_rows

    def commit(self) -> Path | None:
        """Close, fsync and rename; the directory to fsync next (None: nothing written)."""
        if self.writer is None:
            return None
        self.writer.close()
        fsync_path(self.tmp)
        os.replace(self.tmp, self.target)
        return self.target.parent

    def abort(self) -> None:
        """Drop the temp file; never raises (it runs while another error propagates)."""
        if self.writer is not None:
            try:
                self.writer.close()
            except OSError:  # e.g. the disk is full: the close cannot flush either
                self.writer.is_open = False  # so pyarrow's __del__ does not try again
            self.writer = None
        self.tmp.unlink(missing_ok=True)


class FillDown:
    """``fill_down: {by: [Name], columns: [...]}``: repeat order-level cells on later lines.

    Exports such as Shopify's fill order-level columns only on an order's first line; the
    following rows with the same ``by`` key inherit the last non-empty value (across chunks).
    """

    def __init__(self, mapping: Mapping, header: list[str]):
        by_norm = {norm(h): h for h in header}
        spec = mapping.fill_down
        self.by = [by_norm.get(norm(c), c) for c in spec.get("by", [])]
        self.columns = [by_norm.get(norm(c), c) for c in spec.get("columns", [])]
        self.last_key: tuple | None = None
        self.last: dict[str, str | None] = {}

    def apply(self, table: pa.Table) -> pa.Table:
        if not self.by or table.num_rows == 0:
            return table
        cols = [c for c in self.columns if c in table.column_names]
        by = [table[c].to_pylist() for c in self.by if c in table.column_names]
        keys = list(zip(*by, strict=True))
        values = {c: table[c].to_pylist() for c in cols}
        for i, key in enumerate(keys):
            if key != self.last_key:
                self.last_key, self.last = key, {}
            for c in cols:
                v = values[c][i]
                if v is None or not str(v).strip():
                    values[c][i] = self.last.get(c, v)
                else:
                    self.last[c] = v
        for c in cols:
            idx = table.column_names.index(c)
            table = table.set_column(idx, c, pa.array(values[c], pa.string()))
        return table


class Ordinals:
    """``ordinals: {name: [cols]}``: the running occurrence number of each key combination.

    Lets a mapping build a stable line id (e.g. StockCode + its ordinal within the invoice)
    so that true duplicate lines survive deterministically, across chunk boundaries.
    """

    def __init__(self, mapping: Mapping, header: list[str]):
        by_norm = {norm(h): h for h in header}
        self.specs = {
            name: [c if c in header else by_norm.get(norm(c), c) for c in cols]
            for name, cols in mapping.ordinals.items()
        }
        self.counts: dict[str, Counter] = {name: Counter() for name in self.specs}

    def add(self, table: pa.Table) -> pa.Table:
        import pandas as pd  # lazy: only ordinal mappings need it; ingest start-up stays small

        for name, cols in self.specs.items():
            frame = pd.DataFrame(
                {
                    i: (table[c] if c in table.column_names else pa.nulls(table.num_rows))
                    .to_pandas()
                    .astype(object)
                    for i, c in enumerate(cols)
                }
            )
            groups = frame.groupby(list(frame.columns), dropna=False, sort=False)
            within = groups.cumcount().to_numpy() + 1
            counter = self.counts[name]
            keys = list(groups.size().index)  # one entry per distinct key, in ngroup order
            keys = [k if isinstance(k, tuple) else (k,) for k in keys]
            before = pd.Series([counter[k] for k in keys], dtype="int64").to_numpy()
            ordinal = within + before[groups.ngroup().to_numpy()]
            for k, size in zip(keys, groups.size().to_numpy(), strict=True):
                counter[k] += int(size)
            table = table.append_column(name, pa.array(ordinal.astype(str), pa.string()))
        return table


class Aggregator:
    """``aggregate: {by: [...], sum: [...]}``: e.g. hourly or per-device rows → one per day."""

    def __init__(self, mapping: Mapping, ent: Entity):
        spec = mapping.aggregate or {}
        self.by = list(spec.get("by") or ent.key)
        self.sums = list(spec.get("sum") or [])
        unknown = [c for c in self.by + self.sums if c not in ent.column_names]
        if unknown:
            raise MappingError(f"mapping {mapping.name}: aggregate names unknown {unknown}")
        self.ent = ent
        self.parts: list[pa.Table] = []  # one file's typed rows (ad reports are small)

    def add(self, table: pa.Table) -> None:
        if table.num_rows:
            self.parts.append(table)

    def result(self, con: duckdb.DuckDBPyConnection) -> pa.Table:
        schema = self.ent.arrow_schema()
        if not self.parts:
            return schema.empty_table()
        select = []
        for name in schema.names:
            if name in self.by:
                select.append(q(name))
            elif name in self.sums:
                select.append(f"sum({q(name)}) AS {q(name)}")
            elif name == "_source_row":
                select.append("min(_source_row) AS _source_row")
            elif name == "_extra":
                select.append("CAST(NULL AS VARCHAR) AS _extra")
            else:
                select.append(f"max({q(name)}) AS {q(name)}")
        by = ", ".join(q(c) for c in self.by)
        sql = f"SELECT {', '.join(select)} FROM part GROUP BY {by} ORDER BY min(_source_row)"
        con.register("part", pa.concat_tables(self.parts))
        try:
            out = con.sql(sql).to_arrow_table()
        finally:
            con.unregister("part")
        self.parts = []
        return out.cast(schema)


def _reject(path: Path, rejected_dir: Path, file_hash: str, reason: str) -> None:
    """Copy the file aside as ``rejected/<hash>__<safe name>`` with a ``.reason.txt`` (one
    line per rejected reading of the file)."""
    rejected_dir.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name)[:120] or "file"
    target = rejected_dir / f"{file_hash}__{safe}"
    if not target.exists():
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    reason_file = target.with_name(target.name + ".reason.txt")
    lines = reason_file.read_text().splitlines() if reason_file.exists() else []
    if reason not in lines:
        atomic_write_text(reason_file, "\n".join([*lines, reason]) + "\n")


def _rejected_copies(rejected_dir: Path, file_hash: str) -> list[Path]:
    return sorted(rejected_dir.glob(f"{file_hash}__*")) if rejected_dir.is_dir() else []


def _clear_reasons(rejected_dir: Path, file_hash: str) -> None:
    """A file tried again: its readings still rejected write their reasons anew."""
    for p in _rejected_copies(rejected_dir, file_hash):
        if p.name.endswith(".reason.txt"):
            p.unlink(missing_ok=True)


def _tidy_rejected(paths, manifest: Manifest, file_hash: str) -> None:
    """A retried file none of whose readings is rejected any more leaves ``rejected/``."""
    if any(r.get("status") == "rejected" for r in manifest.readings(file_hash)):
        return
    for p in _rejected_copies(paths.rejected, file_hash):
        p.unlink(missing_ok=True)
