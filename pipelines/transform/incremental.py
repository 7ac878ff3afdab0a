"""When a run rebuilds the incremental dbt models completely (``--full-refresh``).

The incremental models (``materialized='incremental'``: web events, sessions, order lines)
build only the rows loaded since their last build (dbt_project/macros/incremental/load_time.sql,
docs/incremental.md). That is right as long as the code that computes them is the code that
computed the rows they hold. So each successful build records a fingerprint of that code in
``{home}/state/incremental_build.json``: dbt's own checksums (manifest.json) of the
incremental models and of every node upstream of them (staging models, seeds such as the FX
rates), the project's macros, the dbt vars and the PII key's id (the hashes the models hold
are the key's: docs/privacy.md). The next run passes ``--full-refresh`` when

* the run is tagged ``segmart/full_refresh=true`` (``segmart run --full-refresh``, a backfill,
  ``segmart forget`` after erasing rows from raw: rows removed from raw are not rows loaded);
* there is no record, or the fingerprint differs (a model, macro, seed, var or the PII key
  changed: a key rotation re-hashes the incremental models on the next run by itself);
* a raw Parquet file the last build saw was removed or rewritten since (an unload, a
  hand-edited raw file): rows removed from raw are not rows loaded, so only a full rebuild
  takes them out of the incremental tables. New raw files are what an incremental build
  reads.

Otherwise dbt decides alone: an empty or missing table is built whole, else only new rows.

Each ``dbt build`` of a run decides for its own incremental models and keeps its own record:
``segmart_dbt`` for all but the models tagged ``after_ml`` (``incremental_build.json``),
``segmart_dbt_after_ml`` for those (``fct_attribution``: ``incremental_build_after_ml.json``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from pipelines.core.settings import HomePaths

FULL_REFRESH_TAG = "segmart/full_refresh"
STATE_FILE = "incremental_build.json"


def state_file(tag: str | None = None) -> str:
    """The record of one ``dbt build``'s incremental models: those tagged ``tag``, or (None)
    those of the main build."""
    return STATE_FILE if tag is None else f"incremental_build_{tag}.json"


def incremental_models(
    manifest: Mapping, tag: str | None = None, exclude_tag: str | None = None
) -> list[str]:
    """The unique ids of the project's incremental models (only those tagged ``tag``; none
    tagged ``exclude_tag``)."""
    return sorted(
        uid
        for uid, node in manifest["nodes"].items()
        if node.get("resource_type") == "model"
        and (node.get("config") or {}).get("materialized") == "incremental"
        and (tag is None or tag in (node.get("tags") or []))
        and (exclude_tag is None or exclude_tag not in (node.get("tags") or []))
    )


def incremental_model_names(
    manifest_path: Path, tag: str | None = None, exclude_tag: str | None = None
) -> set[str]:
    """The names of the project's incremental models (filtered as :func:`incremental_models`)."""
    manifest = json.loads(manifest_path.read_text())
    return {
        manifest["nodes"][uid]["name"] for uid in incremental_models(manifest, tag, exclude_tag)
    }


def fingerprint(
    manifest_path: Path,
    dbt_vars: str,
    pii_key_id: str = "",
    tag: str | None = None,
    exclude_tag: str | None = None,
) -> str:
    """sha256 over the checksums of the incremental models (filtered as
    :func:`incremental_models`) and everything upstream of them, the project's own macros, the
    dbt vars (JSON) and the PII key's non-secret id."""
    manifest = json.loads(manifest_path.read_text())
    nodes = {**manifest["nodes"], **manifest.get("sources", {})}
    seen: set[str] = set()
    todo = incremental_models(manifest, tag, exclude_tag)
    while todo:
        uid = todo.pop()
        if uid in seen or uid not in nodes:
            continue
        seen.add(uid)
        todo.extend((nodes[uid].get("depends_on") or {}).get("nodes", []))
    digest = hashlib.sha256()
    for uid in sorted(seen):
        checksum = (nodes[uid].get("checksum") or {}).get("checksum", "")
        digest.update(f"{uid}\0{checksum}\0".encode())
    project = manifest["metadata"].get("project_name", "segmart")
    for uid, macro in sorted(manifest.get("macros", {}).items()):
        if macro.get("package_name") == project:
            digest.update(f"{uid}\0{macro.get('macro_sql', '')}\0".encode())
    digest.update(dbt_vars.encode())
    digest.update(f"\0pii:{pii_key_id}".encode())
    return digest.hexdigest()


def full_refresh_reason(
    paths: HomePaths, current: str, run_tags: Mapping[str, str], name: str = STATE_FILE
) -> str | None:
    """Why this run rebuilds the incremental models completely; None: incremental. ``name``:
    the record of the ``dbt build`` asking (:func:`state_file`)."""
    if run_tags.get(FULL_REFRESH_TAG) == "true":
        return f"run tagged {FULL_REFRESH_TAG}=true"
    target = paths.state / name
    try:
        recorded = json.loads(target.read_text()).get("fingerprint")
    except (OSError, ValueError):
        recorded = None
    if recorded is None:
        return "no record of an earlier incremental build"
    if recorded != current:
        return "the models, macros, seeds, vars or PII key they depend on changed"
    seen = _recorded_raw(target)
    now = raw_files(paths)
    gone = [path for path, stamp in seen.items() if now.get(path) != stamp]
    if gone:
        return f"{len(gone)} raw file(s) removed or rewritten since the last build ({gone[0]})"
    return None


def raw_files(paths: HomePaths) -> dict[str, list[int]]:
    """Raw Parquet files (relative path → [size, mtime_ns]) as they are now."""
    if not paths.raw.is_dir():
        return {}
    return {
        str(file.relative_to(paths.raw)): [file.stat().st_size, file.stat().st_mtime_ns]
        for file in sorted(paths.raw.rglob("*.parquet"))
        if not file.name.startswith(".")
    }


def _recorded_raw(target: Path) -> dict[str, list[int]]:
    try:
        return json.loads(target.read_text()).get("raw_files") or {}
    except (OSError, ValueError):
        return {}


def record_build(paths: HomePaths, current: str, name: str = STATE_FILE) -> None:
    """Record ``current`` as the fingerprint the incremental models were built with (in the
    record ``name``: :func:`state_file`)."""
    paths.state.mkdir(parents=True, exist_ok=True)
    tmp = paths.state / f".{name}.tmp"
    tmp.write_text(json.dumps({"fingerprint": current, "raw_files": raw_files(paths)}))
    tmp.replace(paths.state / name)
