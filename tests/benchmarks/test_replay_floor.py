"""The replay floor: the project's compiled dbt SQL, replayed without dbt, Dagster or GX,
builds the same marts as the pipeline; and DuckDB 1.1.3 reads the pipeline's published marts.

One pipeline run (the real Dagster job) on a small demo landing is shared by the module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from pipeline.runner import run_job
from reliability.pipeline_home import snapshot, snapshot_diff

from benchmarks import agreement, replay_floor

pytestmark = pytest.mark.slow
GA4_DAYS = 20  # of the demo's GA4 daily files: the rest of the landing is kept whole
OLD_READER = Path(__file__).resolve().parents[2] / "scripts" / "old_reader.py"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A home built by the real job, and the replay of its compiled SQL."""
    from pipelines.generate import generate

    home = tmp_path_factory.mktemp("replay_home")
    landing = home / "landing" / "demo"
    generate(landing, 0.01, 42)
    for extra in sorted(landing.glob("web/ga4/events_*"))[GA4_DAYS:]:
        extra.unlink()
    result = run_job(home)
    assert result.success
    work = tmp_path_factory.mktemp("replay_work")
    plan = replay_floor.prepare(home, work)
    timings = replay_floor.run(work)
    return home, work, plan, timings


def _marts(database: Path):
    return snapshot(database, schemas=("marts",))


def test_replay_builds_every_model_in_dependency_order(built):
    _, work, plan, timings = built
    order = [step["model"] for step in plan["steps"]]
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    models = {
        n["unique_id"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"]["materialized"] != "ephemeral"
    }
    assert sorted(order) == sorted(n["name"] for n in models.values())
    position = {name: i for i, name in enumerate(order)}
    for node in models.values():
        for parent in node["depends_on"]["nodes"]:
            if parent in models:
                assert position[models[parent]["name"]] < position[node["name"]]
    assert set(timings) == {*order, "total"}
    # the seeds came from the pipeline's warehouse, not from dbt
    assert {i["schema"] for i in plan["inputs"]} >= {"reference"}


def test_replay_floor_marts_equal_the_pipelines(built):
    home, work, _, _ = built
    pipeline = _marts(home / "warehouse" / "segmart.duckdb")
    replayed = _marts(work / replay_floor.DATABASE)
    assert len(pipeline) >= 25
    assert snapshot_diff(pipeline, replayed) == {}
    # the published copy too (views over Parquet), through the agreement metrics
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        published = agreement.collect(con)
    with duckdb.connect(str(work / replay_floor.DATABASE), read_only=True) as con:
        con.execute("set schema 'marts'")
        replayed_values = agreement.collect(con)
    assert None not in published.values()
    assert replayed_values == pytest.approx(published, rel=1e-9)


def test_duckdb_1_1_reads_every_published_mart_of_a_real_run(built):
    home = built[0]
    done = subprocess.run(
        [sys.executable, str(OLD_READER), str(home / "serving" / "marts.duckdb")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode == 3:
        pytest.skip(f"DuckDB 1.1.3 could not be installed: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        marts = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        ]
        rows = {m: con.execute(f'select count(*) from marts."{m}"').fetchone()[0] for m in marts}
    read = {
        line.split()[0]: int(line.split()[1].replace(",", ""))
        for line in done.stdout.splitlines()
        if "rows  (DuckDB 1.1.3)" in line
    }
    assert read == rows
