"""Durable file writes and content hashes.

An atomic write is a temp file in the same directory, fsync, rename over the target, fsync of
the directory. The state files segmart writes (the file manifest, validated-file records, the
quality state, the serving manifest, Data Docs, the HTML report) go through
:func:`atomic_write_text`, so a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

HASH_CHUNK = 1024 * 1024


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes the renames in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    """Streamed sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_CHUNK):
            h.update(block)
    return h.hexdigest()


def atomic_write_text(
    path: Path, text: str, sync_dir: bool = True, mode: int | None = None
) -> None:
    """Write via a temp file in the same directory, fsync, then rename over ``path``.

    ``sync_dir=False`` leaves the directory's fsync (which makes the rename durable) to the
    caller, who writes several files and syncs their directory once. ``mode``: the file's
    permissions (default: the temp file's, 0600).
    """
    atomic_write_bytes(path, text.encode("utf-8"), sync_dir, mode)


def atomic_write_bytes(
    path: Path, data: bytes, sync_dir: bool = True, mode: int | None = None
) -> None:
    """:func:`atomic_write_text` for bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_path(path.parent)
