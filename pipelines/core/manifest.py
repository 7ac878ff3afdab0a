"""The file manifest: one JSON record per landed file content, written atomically and last.

``{home}/manifest/{sha256}.json`` (and ``{sha256}~{entity}.json`` for a further reading of the
same file by a ``reading: additional`` mapping) exists only once its raw and quarantine Parquet are
durably in place, so a crash mid-load leaves no record and the file is simply re-ingested
(its output names are the hash, so the rewrite is idempotent). The same content landing
again under any name is recorded under ``manifest/duplicates/`` and loads nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipelines.core.files import atomic_write_text, fsync_path


class Manifest:
    """Reads and writes the manifest directory of a home.

    One record per (file content, reading): ``{sha}.json`` for the file's primary reading
    (or its rejection when nothing reads it), ``{sha}~{entity}.json`` for each further
    reading by a ``reading: additional`` mapping (pipelines/ingest/README.md, "One file,
    several entities"). Every record has the same fields (``entity``, ``rows_read``, ...).
    """

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dup_dir = self.dir / "duplicates"

    def path_for(self, file_hash: str, entity: str | None = None) -> Path:
        """The record of a file's primary reading, or (``entity``) of an additional one."""
        if entity:
            return self.dir / f"{file_hash}~{entity}.json"
        return self.dir / f"{file_hash}.json"

    def record_path(self, record: dict) -> Path:
        additional = record.get("reading") == "additional"
        return self.path_for(record["file_hash"], record.get("entity") if additional else None)

    def get(self, file_hash: str) -> dict | None:
        """The file's primary record, else its first additional one (None: never seen)."""
        p = self.path_for(file_hash)
        if p.exists():
            return json.loads(p.read_text())
        readings = self.readings(file_hash)
        return readings[0] if readings else None

    def readings(self, file_hash: str) -> list[dict]:
        """Every record of a file content: the primary one first, then additional ones."""
        paths = [self.path_for(file_hash), *sorted(self.dir.glob(f"{file_hash}~*.json"))]
        return [json.loads(p.read_text()) for p in paths if p.exists()]

    def write(self, *records: dict) -> None:
        """Write each record atomically; the directory is synced once, after the last."""
        for record in records:
            text = json.dumps(record, indent=2)
            atomic_write_text(self.record_path(record), text, sync_dir=False)
        if records:
            fsync_path(self.dir)

    def delete(self, record: dict) -> None:
        """Drop a record (a rejection no mapping makes any more); the file is re-examined."""
        self.record_path(record).unlink(missing_ok=True)
        fsync_path(self.dir)

    def write_duplicate(self, record: dict) -> None:
        name_key = hashlib.sha1(record["file"].encode()).hexdigest()[:16]
        target = self.dup_dir / f"{record['file_hash']}__{name_key}.json"
        atomic_write_text(target, json.dumps(record, indent=2))

    def records(self, include_duplicates: bool = False) -> list[dict]:
        dirs = [self.dir] + ([self.dup_dir] if include_duplicates else [])
        out = []
        for d in dirs:
            if d.is_dir():
                out += [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))]
        return out

    def seen_index(self) -> set[tuple[str, int, int]]:
        """(file, size, mtime_ns) of every file already handled: skipped without hashing."""
        return set(self.handled_index())

    def handled_index(self) -> dict[tuple[str, int, int], list[dict]]:
        """{(file, size, mtime_ns): its records} — the ingest decides from these whether an
        unchanged file needs another look (a rejection under other mappings)."""
        out: dict[tuple[str, int, int], list[dict]] = {}
        for r in self.records(include_duplicates=True):
            if "mtime_ns" in r:
                out.setdefault((r["file"], r["size"], r["mtime_ns"]), []).append(r)
        return out
