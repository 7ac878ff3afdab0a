"""The file manifest: one JSON record per landed file content, written atomically and last.

``{home}/manifest/{sha256}.json`` exists only once a file's raw and quarantine Parquet are
durably in place, so a crash mid-load leaves no record and the file is simply re-ingested
(its output names are the hash, so the rewrite is idempotent). The same content landing
again under any name is recorded under ``manifest/duplicates/`` and loads nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

HASH_CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    """Streamed sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_CHUNK):
            h.update(block)
    return h.hexdigest()


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str, sync_dir: bool = True) -> None:
    """Write via a temp file in the same directory, fsync, then rename over ``path``.

    ``sync_dir=False`` leaves the directory's fsync (which makes the rename durable) to the
    caller, who writes several files and syncs their directory once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_path(path.parent)


class Manifest:
    """Reads and writes the manifest directory of a home."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dup_dir = self.dir / "duplicates"

    def path_for(self, file_hash: str) -> Path:
        return self.dir / f"{file_hash}.json"

    def get(self, file_hash: str) -> dict | None:
        p = self.path_for(file_hash)
        return json.loads(p.read_text()) if p.exists() else None

    def write(self, *records: dict) -> None:
        """Write each record atomically; the directory is synced once, after the last."""
        for record in records:
            text = json.dumps(record, indent=2)
            atomic_write_text(self.path_for(record["file_hash"]), text, sync_dir=False)
        if records:
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
        return {
            (r["file"], r["size"], r["mtime_ns"])
            for r in self.records(include_duplicates=True)
            if "mtime_ns" in r
        }
