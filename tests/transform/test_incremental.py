"""When a run rebuilds the incremental models completely (pipelines/transform/incremental.py)."""

from __future__ import annotations

import copy
import json

from pipelines.core.settings import PiiKey, home_paths
from pipelines.transform.incremental import (
    FULL_REFRESH_TAG,
    fingerprint,
    full_refresh_reason,
    incremental_model_names,
    record_build,
    state_file,
)


def _manifest() -> dict:
    """A dbt manifest in the shape dbt writes it: incremental model `a` reads view `b`, which
    reads source `s` and seed `f`; table `c` reads `a` (downstream: not part of the lineage)."""

    def node(name, kind, materialized=None, parents=(), checksum="0"):
        return {
            "name": name,
            "resource_type": kind,
            "config": {"materialized": materialized} if materialized else {},
            "depends_on": {"nodes": list(parents)},
            "checksum": {"name": "sha256", "checksum": checksum},
        }

    return {
        "metadata": {"project_name": "segmart"},
        "nodes": {
            "model.segmart.a": node("a", "model", "incremental", ["model.segmart.b"]),
            "model.segmart.b": node(
                "b", "model", "view", ["source.segmart.raw.s", "seed.segmart.f"]
            ),
            "seed.segmart.f": node("f", "seed"),
            "model.segmart.c": node("c", "model", "table", ["model.segmart.a"]),
        },
        "sources": {"source.segmart.raw.s": node("s", "source")},
        "macros": {
            "macro.segmart.m": {"package_name": "segmart", "macro_sql": "{% macro m() %}1"},
            "macro.dbt.n": {"package_name": "dbt", "macro_sql": "{% macro n() %}1"},
        },
    }


def _fingerprint(tmp_path, manifest, dbt_vars="{}") -> str:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return fingerprint(path, dbt_vars)


def test_the_fingerprint_follows_the_incremental_models_lineage_only(tmp_path):
    base = _manifest()
    first = _fingerprint(tmp_path, base)
    assert _fingerprint(tmp_path, base) == first  # deterministic

    def changed(edit) -> bool:
        manifest = copy.deepcopy(base)
        edit(manifest)
        return _fingerprint(tmp_path, manifest) != first

    # the model itself, a model and a seed upstream of it, the project's macros: changed
    assert changed(lambda m: m["nodes"]["model.segmart.a"]["checksum"].update(checksum="1"))
    assert changed(lambda m: m["nodes"]["model.segmart.b"]["checksum"].update(checksum="1"))
    assert changed(lambda m: m["nodes"]["seed.segmart.f"]["checksum"].update(checksum="1"))
    assert changed(lambda m: m["macros"]["macro.segmart.m"].update(macro_sql="{% macro m() %}2"))
    # a model downstream, a macro of another package: not the incremental models' concern
    assert not changed(lambda m: m["nodes"]["model.segmart.c"]["checksum"].update(checksum="1"))
    assert not changed(lambda m: m["macros"]["macro.dbt.n"].update(macro_sql="x"))
    # the dbt vars
    assert _fingerprint(tmp_path, base, '{"reporting_currency": "EUR"}') != first
    # the PII key (a rotation re-hashes the incremental models by itself), by its id only
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(base))
    old, new = PiiKey(b"old key", "env").key_id, PiiKey(b"new key", "env").key_id
    assert (
        fingerprint(path, "{}", old) == fingerprint(path, "{}", old) != fingerprint(path, "{}", new)
    )


def test_full_refresh_reasons(tmp_path):
    paths = home_paths(tmp_path)
    assert full_refresh_reason(paths, "f1", {}) == "no record of an earlier incremental build"
    record_build(paths, "f1")
    assert full_refresh_reason(paths, "f1", {}) is None
    assert full_refresh_reason(paths, "f2", {}) == (
        "the models, macros, seeds, vars or PII key they depend on changed"
    )
    tagged = full_refresh_reason(paths, "f1", {FULL_REFRESH_TAG: "true"})
    assert tagged == "run tagged segmart/full_refresh=true"
    (paths.state / "incremental_build.json").write_text("not json")
    assert full_refresh_reason(paths, "f1", {}) == "no record of an earlier incremental build"
    # the build after the ML steps keeps a record of its own
    after_ml = state_file("after_ml")
    assert after_ml == "incremental_build_after_ml.json"
    assert full_refresh_reason(paths, "g1", {}, after_ml) == (
        "no record of an earlier incremental build"
    )
    record_build(paths, "g1", after_ml)
    assert full_refresh_reason(paths, "g1", {}, after_ml) is None
    assert full_refresh_reason(paths, "g2", {}, after_ml) is not None
    assert full_refresh_reason(paths, "g1", {}) is not None  # the main record is apart


def test_a_raw_file_removed_or_rewritten_since_the_last_build_means_a_full_refresh(tmp_path):
    """An unload (raw file deleted) or a rewritten raw file: rows left raw that an incremental
    build cannot see, so the next build is full; a new raw file is an incremental build."""
    paths = home_paths(tmp_path)
    orders = paths.raw / "orders"
    orders.mkdir(parents=True)
    (orders / "a.parquet").write_bytes(b"one")
    (orders / "b.parquet").write_bytes(b"two")
    record_build(paths, "f1")
    (orders / "c.parquet").write_bytes(b"new file")
    assert full_refresh_reason(paths, "f1", {}) is None  # new files: incremental
    (orders / "a.parquet").unlink()
    reason = full_refresh_reason(paths, "f1", {})
    assert reason == "1 raw file(s) removed or rewritten since the last build (orders/a.parquet)"
    record_build(paths, "f1")
    (orders / "b.parquet").write_bytes(b"rewritten, longer")
    assert "orders/b.parquet" in full_refresh_reason(paths, "f1", {})


def test_the_projects_incremental_models():
    from pipelines.transform.project import dbt_project, ensure_manifest

    names = incremental_model_names(ensure_manifest(dbt_project()))
    assert names == {
        "stg_web__events",
        "int_events_sourced",
        "int_events_channeled",
        "int_sessions",
        "int_touchpoints",
        "int_order_lines_converted",
    }
    # each dbt build decides and records its own (the build after the ML steps has none today)
    manifest = ensure_manifest(dbt_project())
    assert incremental_model_names(manifest, tag="after_ml") == set()
    assert incremental_model_names(manifest, exclude_tag="after_ml") == names
