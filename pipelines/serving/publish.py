"""Write-audit-publish of the marts to ``{home}/serving/`` for BI readers.

The marts were built and checked in the working warehouse (blocking GX checks run before this).
:func:`publish` writes each mart **once**, as Parquet, and makes the DuckDB file a small
catalog of views over those files:

1. each mart is copied from the warehouse, attached **read-only**, by one ``COPY ... TO``
   into a new version folder ``serving/versions/<run>.<token>/<mart>.parquet`` (zstd);
   the copy is audited (rows and columns of the Parquet file equal the warehouse table's).
   A mart whose content did not change since the last publish (its signature: column names
   and types, row count and the sum of DuckDB's row hashes, recorded in ``_published.json``)
   is not written again: the new version folder gets a hard link to the previous version's
   file (audited the same way), so an incremental run that changed a few marts writes only
   those. Readers see the same names either way;
2. a new DuckDB file ``serving/.marts.<token>.duckdb`` is written with an explicit storage
   version (``ATTACH ... (STORAGE_VERSION 'v1.0.0')``, config ``serving.storage_version``)
   so that BI tools bundling an older DuckDB can open it: one view per mart,
   ``select ... from read_parquet('<absolute path of the version's file>')`` (columns whose
   type Parquet does not keep, e.g. HUGEINT, cast back), with dbt's table and column
   comments; each ``serving/parquet/<mart>.parquet`` is a hard link to the version's file
   (no second write), made under a temporary name;
3. everything is fsynced, then ``os.replace`` swaps the new file onto
   ``serving/marts.duckdb`` and each link onto ``serving/parquet/<mart>.parquet``;
   ``_published.json`` is written last. Older version folders are removed afterwards, except
   the one published just before and any whose ``marts.duckdb`` (a hard link in the version
   folder) a DuckDB process still holds open (DuckDB locks the file while a connection is
   open): a BI session that opened an old ``marts.duckdb`` keeps reading that version (old
   data, consistent) until it closes it.

A rename swaps the directory entry, not the file: a reader that holds the old
``marts.duckdb`` open keeps reading the old inode, whose views name the old version's files,
a reader opening after the swap gets the new one, and since the publisher never writes a
file readers have open there is no lock conflict. If anything fails before the swap, the
previous serving copy is untouched and the new version folder and temporary files are removed.

One publish at a time: an exclusive ``flock`` on ``{home}/state/publish.lock`` (the kernel
releases it when the holder dies, so a killed publish never blocks the next one). Holding it,
the publisher removes the temporaries a killed publish left (``serving/.marts.*.duckdb``,
``serving/parquet/.*.parquet``, ``serving/._published.json.*``) and logs each. A disk that
fills up mid-copy raises :class:`PublishError` with one clear line; the previous copy stays.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.core.files import atomic_write_text, fsync_path, sha256_file
from pipelines.core.locks import PUBLISH_LOCK, exclusive_lock
from pipelines.core.settings import home_paths, load_config

SERVING_DB = "marts.duckdb"
PARQUET_DIR = "parquet"
VERSIONS_DIR = "versions"  # serving/versions/<token>/<mart>.parquet: the data the views read
MANIFEST = "_published.json"
WAREHOUSE_SCHEMA = "marts"
SERVING_SCHEMA = "main"
DEFAULT_STORAGE_VERSION = "v1.0.0"
# Test hook, off by default: SEGMART_FAULT_PAUSE=<point> makes the publisher pause at that
# point (see fault_pause), so a test can SIGKILL it there or fill the disk before it goes on.
FAULT_PAUSE_ENV = "SEGMART_FAULT_PAUSE"
FAULT_POINTS = ("publish.start", "publish.before_swap", "publish.mid_swap")
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedMart:
    name: str
    rows: int
    columns: int
    parquet: str
    parquet_sha256: str
    signature: str = ""  # content_signature() of the warehouse table it was written from
    reused: bool = False  # the previous version's file, unchanged content (not written)


@dataclass(frozen=True)
class PublishReport:
    """What one publish wrote."""

    run_id: str
    published_at: str
    database: str
    database_sha256: str
    storage_version: str
    marts: tuple[PublishedMart, ...]
    version: str = ""  # the folder serving/versions/<version>/ the views read

    @property
    def rows(self) -> dict[str, int]:
        return {m.name: m.rows for m in self.marts}

    def to_json(self) -> dict:
        data = asdict(self)
        data["marts"] = [asdict(m) for m in self.marts]
        return data


class PublishError(RuntimeError):
    """The copy failed its audit or a mart is missing; nothing was published."""


def fault_pause(point: str, state_dir: Path) -> None:
    """Pause at ``point`` when ``SEGMART_FAULT_PAUSE`` names it (fault-injection tests only).

    Writes ``{state}/fault-<point>.paused`` and waits (at most 10 minutes) until the test
    creates ``fault-<point>.resume`` — or kills the process.
    """
    if os.environ.get(FAULT_PAUSE_ENV) != point:
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    paused, resume = (state_dir / f"fault-{point}.{s}" for s in ("paused", "resume"))
    paused.write_text(str(os.getpid()))
    deadline = time.monotonic() + 600
    while not resume.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    paused.unlink(missing_ok=True)
    resume.unlink(missing_ok=True)


def stale_temporaries(serving: Path) -> list[Path]:
    """Temporary files of an earlier publish that never finished (killed or crashed)."""
    patterns = [
        (serving, ".marts.*.duckdb"),
        (serving, ".marts.*.duckdb.wal"),
        (serving, f".{MANIFEST}.*"),
        (serving / PARQUET_DIR, ".*.parquet"),
    ]
    return sorted(p for folder, glob in patterns if folder.is_dir() for p in folder.glob(glob))


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        return True
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and any(
        marker in text for marker in ("no space left", "file too large", "disk quota")
    )


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _copy_comments(con: duckdb.DuckDBPyConnection, mart: str) -> None:
    """The table's and its columns' comments, in one transaction (not one commit each)."""
    con.begin()
    try:
        _comment(con, mart)
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _comment(con: duckdb.DuckDBPyConnection, mart: str) -> None:
    table = con.execute(
        "select comment from duckdb_tables() where database_name = 'wh' "
        "and schema_name = ? and table_name = ?",
        [WAREHOUSE_SCHEMA, mart],
    ).fetchone()
    target = f"srv.{SERVING_SCHEMA}.{quote(mart)}"
    if table and table[0]:
        con.execute(f"comment on view {target} is {literal(table[0])}")
    columns = con.execute(
        "select column_name, comment from duckdb_columns() where database_name = 'wh' "
        "and schema_name = ? and table_name = ? and comment is not null",
        [WAREHOUSE_SCHEMA, mart],
    ).fetchall()
    for column, comment in columns:
        con.execute(f"comment on column {target}.{quote(column)} is {literal(comment)}")


def _warehouse_marts(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_name from duckdb_tables() where database_name = 'wh' and schema_name = ?",
        [WAREHOUSE_SCHEMA],
    ).fetchall()
    return {r[0] for r in rows}


def publish(
    home: str | os.PathLike,
    marts: list[str],
    *,
    run_id: str | None = None,
    storage_version: str | None = None,
) -> PublishReport:
    """Copy ``marts`` from the warehouse to the serving layer atomically (see module doc)."""
    paths = home_paths(home)
    config = load_config(paths.root)
    serving_cfg = config.get("serving") or {}
    storage_version = (
        storage_version or serving_cfg.get("storage_version") or DEFAULT_STORAGE_VERSION
    )
    run_id = run_id or uuid.uuid4().hex
    token = f"{run_id}.{uuid.uuid4().hex[:8]}"
    serving = paths.serving
    parquet_dir = serving / PARQUET_DIR
    parquet_dir.mkdir(parents=True, exist_ok=True)
    if not paths.warehouse.exists():
        raise PublishError(f"no warehouse at {paths.warehouse}")
    marts = sorted(dict.fromkeys(marts))

    with exclusive_lock(paths.state / PUBLISH_LOCK, "publish", log):
        fault_pause("publish.start", paths.state)
        for stale in stale_temporaries(serving):
            stale.unlink(missing_ok=True)
            log.warning("removed %s, left by a publish that did not finish", stale)
        try:
            return _publish_locked(paths, config, marts, run_id, token, storage_version)
        except (OSError, duckdb.Error) as exc:
            if _is_disk_full(exc):
                raise PublishError(
                    f"disk full while writing the serving copy in {serving} ({exc}); the "
                    "previous serving copy is unchanged: free space and run again"
                ) from exc
            raise


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    """(name, type) of each column of a relation or query, in order."""
    rows = con.execute(f"describe select * from {relation}").fetchall()
    return [(r[0], r[1]) for r in rows]


def view_sql(parquet: Path, warehouse_columns, parquet_columns) -> str:
    """The serving view of one mart: its Parquet file, with the warehouse's column types.

    Parquet has no HUGEINT, unsigned or TIME WITH TIME ZONE of its own (DuckDB writes e.g. a
    ``sum()`` of integers, HUGEINT, as DOUBLE): such columns are cast back, so a reader sees
    the types the models declare. Every other column is read as it is.
    """
    source = f"read_parquet({literal(str(parquet))})"
    if list(warehouse_columns) == list(parquet_columns):
        return f"select * from {source}"
    items = [
        quote(name) if typ == parquet_typ else f"cast({quote(name)} as {typ}) as {quote(name)}"
        for (name, typ), (_, parquet_typ) in zip(warehouse_columns, parquet_columns, strict=True)
    ]
    return f"select {', '.join(items)} from {source}"


def content_signature(con: duckdb.DuckDBPyConnection, source: str, columns) -> tuple[str, int]:
    """An order-independent digest of a relation's content: DuckDB's version, the column
    names and types, the row count and the sum of the rows' hashes (a sum, not a xor, so
    duplicate rows count). One scan, no write: far cheaper than compressing a new file.
    Returns the digest and the row count (the audit's expected rows: no second count)."""
    count, total = con.execute(
        f"select count(*), coalesce(sum(hash(t)::hugeint), 0) from {source} as t"
    ).fetchone()
    payload = json.dumps([duckdb.__version__, list(map(list, columns)), count, str(total)])
    return hashlib.sha256(payload.encode()).hexdigest(), int(count)


def _previous_files(serving: Path) -> dict[str, tuple[Path, dict]]:
    """{mart: (its Parquet file in the last manifest's version folder, its manifest record)}
    for the marts whose file is still there and whose record has a signature."""
    try:
        manifest = json.loads((serving / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    version = manifest.get("version") or ""
    out = {}
    for record in manifest.get("marts") or []:
        path = serving / VERSIONS_DIR / version / f"{record.get('name')}.parquet"
        if version and record.get("signature") and path.is_file():
            out[record["name"]] = (path, record)
    return out


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link (the same bytes, written once); a copy where the file system has none."""
    try:
        os.link(source, target)
    except OSError as exc:
        if _is_disk_full(exc):
            raise
        shutil.copyfile(source, target)


def _previous_version(serving: Path) -> str | None:
    """The version the current ``marts.duckdb`` reads: the folder holding the same file (a
    publish killed after its swap never wrote the manifest), else the manifest's."""
    try:
        live = (serving / SERVING_DB).stat().st_ino
        for folder in (serving / VERSIONS_DIR).iterdir():
            catalog = folder / SERVING_DB
            if catalog.exists() and catalog.stat().st_ino == live:
                return folder.name
    except OSError:
        pass
    try:
        return json.loads((serving / MANIFEST).read_text()).get("version") or None
    except (OSError, ValueError):
        return None


def held_open(database: Path) -> bool:
    """Whether a DuckDB process has ``database`` open: DuckDB holds a lock on the file for as
    long as a connection is open (shared for readers), so an exclusive lock is refused."""
    try:
        fd = os.open(database, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def prune_versions(serving: Path, keep: set[str]) -> list[Path]:
    """Remove the version folders no reader can need: not in ``keep`` (the new version and
    the one published before it) and whose catalog (``versions/<v>/marts.duckdb``, the same
    file as the ``marts.duckdb`` of that publish) no DuckDB process holds open."""
    versions = serving / VERSIONS_DIR
    if not versions.is_dir():
        return []
    removed = []
    for folder in sorted(versions.iterdir()):
        if folder.name in keep:
            continue
        if held_open(folder / SERVING_DB):
            log.info("kept serving version %s: a reader still has it open", folder.name)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
        log.info("removed serving version %s", folder.name)
    return removed


def _publish_locked(paths, config, marts, run_id, token, storage_version) -> PublishReport:
    serving = paths.serving.resolve()
    parquet_dir = serving / PARQUET_DIR
    version_dir = serving / VERSIONS_DIR / token
    tmp_db = serving / f".marts.{token}.duckdb"
    tmp_links = {m: parquet_dir / f".{m}.{token}.parquet" for m in marts}
    data = {m: version_dir / f"{m}.parquet" for m in marts}
    temporaries = [tmp_db, Path(f"{tmp_db}.wal"), *tmp_links.values()]
    previous = _previous_version(serving)
    earlier = _previous_files(serving)
    duck = config.get("duckdb") or {}
    settings = {k: duck[k] for k in ("memory_limit", "threads") if duck.get(k)}
    live = False  # True once marts.duckdb names the new version: it must then stay
    try:
        con = duckdb.connect(":memory:", config=settings)
        try:
            con.execute(f"attach {literal(str(paths.warehouse))} as wh (read_only)")
            missing = sorted(set(marts) - _warehouse_marts(con))
            if missing:
                raise PublishError(f"marts missing from the warehouse: {missing}")
            version_dir.mkdir(parents=True)
            published = []
            views = {}
            reused = {}
            for mart in marts:  # the one write of each mart's rows (none if unchanged)
                source = f"wh.{WAREHOUSE_SCHEMA}.{quote(mart)}"
                wh_columns = _columns(con, source)
                signature, expected = content_signature(con, source, wh_columns)
                before = earlier.get(mart)
                if before and before[1]["signature"] == signature:
                    _link_or_copy(before[0], data[mart])
                    reused[mart] = before[1].get("parquet_sha256") or sha256_file(data[mart])
                else:
                    con.execute(
                        f"copy (select * from {source}) to {literal(str(data[mart]))} "
                        "(format parquet, compression zstd)"
                    )
                parquet = f"read_parquet({literal(str(data[mart]))})"
                rows = con.execute(f"select count(*) from {parquet}").fetchone()[0]
                if rows != expected:
                    raise PublishError(f"{mart}: wrote {rows} rows, warehouse has {expected}")
                pq_columns = _columns(con, parquet)
                if [c for c, _ in wh_columns] != [c for c, _ in pq_columns]:
                    raise PublishError(f"{mart}: the Parquet file's columns differ from the table")
                views[mart] = view_sql(data[mart], wh_columns, pq_columns)
                published.append((mart, int(rows), len(wh_columns), signature))
            con.execute(
                f"attach {literal(str(tmp_db))} as srv (storage_version {literal(storage_version)})"
            )
            for mart in marts:
                con.execute(f"create view srv.{SERVING_SCHEMA}.{quote(mart)} as {views[mart]}")
                _copy_comments(con, mart)
            con.execute("checkpoint srv")
            con.execute("detach srv")
        finally:
            con.close()
        if Path(f"{tmp_db}.wal").exists():
            raise PublishError(f"{tmp_db}.wal left after checkpoint; not publishing")
        for mart in marts:
            _link_or_copy(data[mart], tmp_links[mart])
        # the catalog's second name: while a reader holds this file, its version is kept
        os.link(tmp_db, version_dir / SERVING_DB)
        for path in [tmp_db, *data.values(), version_dir, version_dir.parent]:
            fsync_path(path)
        report = PublishReport(
            run_id=run_id,
            published_at=datetime.now(UTC).isoformat(),
            database=str(serving / SERVING_DB),
            database_sha256=sha256_file(tmp_db),
            storage_version=storage_version,
            marts=tuple(
                PublishedMart(
                    name=m,
                    rows=r,
                    columns=c,
                    parquet=str(parquet_dir / f"{m}.parquet"),
                    parquet_sha256=reused.get(m) or sha256_file(data[m]),
                    signature=sig,
                    reused=m in reused,
                )
                for m, r, c, sig in published
            ),
            version=token,
        )
        # publish: each rename is atomic; the manifest is written last
        fault_pause("publish.before_swap", paths.state)
        os.replace(tmp_db, serving / SERVING_DB)
        live = True
        fault_pause("publish.mid_swap", paths.state)
        for mart, tmp in tmp_links.items():
            os.replace(tmp, parquet_dir / f"{mart}.parquet")
        atomic_write_text(serving / MANIFEST, json.dumps(report.to_json(), indent=2), False, 0o644)
        fsync_path(parquet_dir)
        fsync_path(serving)
        prune_versions(serving, {token, previous or token})
        return report
    finally:
        for path in temporaries:
            path.unlink(missing_ok=True)
        if not live:
            shutil.rmtree(version_dir, ignore_errors=True)
