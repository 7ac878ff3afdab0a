"""The serving asset publishes only marts whose blocking GX checks passed in the same run."""

from __future__ import annotations

import hashlib

import dagster as dg
import duckdb

from pipelines.core.resources import SegmartHome
from pipelines.quality import mart_checks
from pipelines.serving import publish
from pipelines.serving.assets import SERVING_KEY, build_serving_asset
from serving.warehouse import write_marts

MARTS = ["dim_customers", "kpi_channel_monthly"]


def _defs(r_score: int) -> list:
    keys = [dg.AssetKey([m]) for m in MARTS]

    @dg.multi_asset(specs=[dg.AssetSpec(k) for k in keys])
    def marts(segmart: SegmartHome):
        write_marts(segmart.paths.root, version=2, r_score=r_score)
        for key in keys:
            yield dg.MaterializeResult(asset_key=key)

    return [marts, build_serving_asset(keys), *mart_checks(MARTS)]


def _serving_hashes(home) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (home / "serving").rglob("*")
        if p.is_file() and "quality" not in p.parts
    }


def _run(home, r_score: int) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        _defs(r_score), resources={"segmart": SegmartHome(home=str(home))}, raise_on_error=False
    )


def test_failing_mart_check_leaves_serving_copy_byte_identical(tmp_path):
    write_marts(tmp_path, version=1)
    publish(tmp_path, MARTS)
    before = _serving_hashes(tmp_path)

    result = _run(tmp_path, r_score=7)  # breaks "r_score between 1 and 5" (error)

    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.asset_key for e in failed] == [dg.AssetKey(["dim_customers"])]
    assert failed[0].severity == dg.AssetCheckSeverity.ERROR
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert SERVING_KEY not in materialized
    assert _serving_hashes(tmp_path) == before


def test_passing_checks_publish_the_new_marts(tmp_path):
    write_marts(tmp_path, version=1)
    publish(tmp_path, MARTS)

    result = _run(tmp_path, r_score=3)

    assert result.success
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == SERVING_KEY]
    metadata = event.materialization.metadata
    assert metadata["rows: dim_customers"].value == 50
    assert metadata["storage_version"].value == "v1.0.0"
    con = duckdb.connect(str(tmp_path / "serving" / "marts.duckdb"), read_only=True)
    try:
        assert con.execute("select distinct version from dim_customers").fetchall() == [(2,)]
    finally:
        con.close()
