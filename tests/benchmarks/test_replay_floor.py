"""The replay floor: the project's compiled dbt SQL, replayed without dbt, Dagster or GX,
builds the same marts as the pipeline; and DuckDB 1.1.3 reads the pipeline's published marts.

The pipeline run is the session's shared demo home (tests/shared_homes.py: the real job on
the demo data at scale 0.01), shared with other modules; dbt compiles against a private copy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from reliability.pipeline_home import snapshot, snapshot_diff

from benchmarks import agreement, replay_floor
from tests.shared_homes import StoredRun, demo_home, private_copy

pytestmark = pytest.mark.slow
OLD_READER = Path(__file__).resolve().parents[2] / "scripts" / "old_reader.py"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The shared demo home (read only), and the replay of its compiled SQL."""
    shared = demo_home(tmp_path_factory)
    assert StoredRun(shared).success
    # dbt opens the warehouse for writing even to compile: a copy, not the shared home
    home = private_copy(shared, tmp_path_factory.mktemp("replay") / "home")
    work = tmp_path_factory.mktemp("replay_work")
    plan = replay_floor.prepare(home, work)
    timings = replay_floor.run(work)
    return shared, work, plan, timings


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
