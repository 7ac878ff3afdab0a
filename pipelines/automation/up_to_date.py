"""Whether ``segmart run`` has anything to do, decided before Dagster or dbt start.

The marts are a function of the raw layer, the code (dbt project, expectations, Python,
shipped config and mappings, locked package versions) and the home's configuration; the
as-of date comes from the data, not the clock. After a successful run with checks,
``segmart run`` records a fingerprint of those inputs and of the files it published in
``{home}/state/last_build.json``. The next run compares before it starts anything:

* a landing file the manifest has not handled (new, or changed since: size or mtime);
* a raw or quarantine file added, removed or rewritten (ingest, ``segmart forget``);
* any code or configuration file changed (content hash), or ``SEGMART_DBT_TARGET``;
* a published file changed or missing (serving marts, Parquet, report), or no warehouse;
* no record (fresh home, a failed run, a run with ``--no-checks``, a killed run);

any one of these runs the pipeline; none of them skips it with one line saying so. The record
is deleted when a run starts and written only when it succeeded, so an interrupted or failed
run is never mistaken for a finished one. ``segmart run --force`` runs regardless.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines.core.files import atomic_write_text
from pipelines.core.manifest import Manifest
from pipelines.core.settings import REPO_ROOT, HomePaths, load_config, pii_key
from pipelines.ingest.loader import landing_files

RECORD_FILE = "last_build.json"

# Files whose content decides what a run computes (relative to the repository root).
CODE_GLOBS = (
    "pipelines/**/*.py",
    "pipelines/**/*.yaml",
    "pipelines/**/*.yml",
    "dbt_project/dbt_project.yml",
    "dbt_project/packages.yml",
    "dbt_project/models/**/*",
    "dbt_project/macros/**/*",
    "dbt_project/seeds/**/*",
    "dbt_project/tests/**/*",
    "dbt_project/snapshots/**/*",
    "expectations/**/*",
    "config/**/*",
    "requirements.lock",
)
ENV_INPUTS = ("SEGMART_DBT_TARGET",)


@dataclass(frozen=True)
class Verdict:
    """``up_to_date`` and, in words, why (the first difference found, or what matched)."""

    up_to_date: bool
    reason: str


def file_stats(root: Path, pattern: str = "**/*") -> dict[str, list[int]]:
    """{relative path: [size, mtime_ns]} of the regular files under ``root`` matching
    ``pattern`` (temporary and lock files left out)."""
    if not root.is_dir():
        return {}
    out = {}
    for path in sorted(root.glob(pattern)):
        if path.is_file() and not path.name.endswith((".tmp", ".lock")):
            stat = path.stat()
            out[path.relative_to(root).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return out


def content_hash(files: Iterable[Path], root: Path, digest=None) -> str:
    """sha256 over the path (relative to ``root``) and content of each file, in path order."""
    digest = digest or hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_hash() -> str:
    """sha256 over the path and content of every code and shipped-config file."""
    files = {
        p
        for pattern in CODE_GLOBS
        for p in REPO_ROOT.glob(pattern)
        if p.is_file() and "__pycache__" not in p.parts
    }
    return content_hash(files, REPO_ROOT)


def config_hash(paths: HomePaths) -> str:
    """sha256 of the effective configuration, the home's own mappings and engine env vars."""
    digest = hashlib.sha256(json.dumps(load_config(paths.root), sort_keys=True).encode())
    for name in ENV_INPUTS:
        digest.update(f"{name}={os.environ.get(name, '')}".encode())
    # a new PII key re-hashes everything: the next run is a full refresh (docs/privacy.md)
    digest.update(f"pii_key={pii_key_id(paths)}".encode())
    mappings = [paths.user_mappings / name for name in file_stats(paths.user_mappings)]
    return content_hash(mappings, paths.user_mappings, digest)


def pii_key_id(paths: HomePaths) -> str:
    """The non-secret id of the home's PII key ("none" before one was generated)."""
    try:
        return pii_key(paths.root, create=False).key_id
    except FileNotFoundError:
        return "none"


def pending_landing_files(paths: HomePaths) -> list[str]:
    """Landing files (relative) that ingest has not handled in their current size and mtime."""
    seen = Manifest(paths.manifest).seen_index()
    pending = []
    for path in landing_files(paths.landing):
        stat = path.stat()
        rel = path.relative_to(paths.landing).as_posix()
        if (rel, stat.st_size, stat.st_mtime_ns) not in seen:
            pending.append(rel)
    return pending


def fingerprint(paths: HomePaths) -> dict:
    """What a successful run is recorded with and the next run compared against."""
    return {
        "raw": file_stats(paths.raw, "**/*.parquet"),
        "quarantine": file_stats(paths.quarantine),
        "code": code_hash(),
        "config": config_hash(paths),
        "published": file_stats(paths.serving),
        "warehouse": paths.warehouse.exists(),
    }


def _changed(saved: dict, now: dict) -> str:
    """'' when equal, else a short description of what differs."""
    added = sorted(set(now) - set(saved))
    removed = sorted(set(saved) - set(now))
    rewritten = sorted(k for k in set(now) & set(saved) if now[k] != saved[k])
    parts = [
        f"{len(names)} {word} (e.g. {names[0]})"
        for names, word in ((added, "added"), (removed, "removed"), (rewritten, "rewritten"))
        if names
    ]
    return ", ".join(parts)


def check(paths: HomePaths) -> Verdict:
    """Compare the home with the record of the last successful run."""
    record_path = paths.state / RECORD_FILE
    try:
        record = json.loads(record_path.read_text())
        saved = record["fingerprint"]
    except (FileNotFoundError, ValueError, KeyError):
        return Verdict(False, "no record of a finished run")
    pending = pending_landing_files(paths)
    if pending:
        more = f" and {len(pending) - 1} more" if len(pending) > 1 else ""
        return Verdict(False, f"new landing file {pending[0]}{more}")
    now = fingerprint(paths)
    for key, label in (("raw", "raw files"), ("quarantine", "quarantine files")):
        if diff := _changed(saved.get(key, {}), now[key]):
            return Verdict(False, f"{label}: {diff}")
    if now["code"] != saved.get("code"):
        return Verdict(False, "the code or shipped configuration changed")
    if now["config"] != saved.get("config"):
        return Verdict(False, "the home's configuration or mappings changed")
    if not now["warehouse"]:
        return Verdict(False, "no warehouse")
    if diff := _changed(saved.get("published", {}), now["published"]):
        return Verdict(False, f"published files: {diff}")
    return Verdict(
        True,
        f"nothing new since the run that finished at {record['finished_at']} "
        f"({len(now['raw'])} raw files, code and configuration unchanged)",
    )


def forget_record(paths: HomePaths) -> None:
    """Called when a run starts: until it succeeds, there is no finished run to match."""
    (paths.state / RECORD_FILE).unlink(missing_ok=True)


def record_success(paths: HomePaths) -> None:
    """Called after a successful run with checks: its inputs and outputs, atomically."""
    paths.state.mkdir(parents=True, exist_ok=True)
    record = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fingerprint": fingerprint(paths),
    }
    atomic_write_text(paths.state / RECORD_FILE, json.dumps(record, indent=1, sort_keys=True))
