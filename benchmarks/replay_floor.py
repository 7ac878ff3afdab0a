"""The replay floor: the project's own compiled dbt SQL, replayed in one DuckDB connection.

The hand-written floor (``benchmarks/floor/marts.sql``) is what the marts could cost with
SQL written for speed; the replay floor is what *this project's* SQL costs on the engine,
with no dbt, no Dagster and no GX around it. Pipeline time over replay time is then the
orchestration's share; replay over the hand-written floor is the models' SQL's.

    python -m benchmarks.replay_floor prepare HOME WORK   # compile + inputs (not timed)
    python -m benchmarks.replay_floor run WORK            # the replay itself (timed)

``prepare`` runs ``dbt compile --full-refresh`` with the pipeline's ``--vars`` against a home
the pipeline built (``segmart run``), target in ``WORK/target`` (the home is read, never
written): every model's ``compiled_code`` reads the home's raw Parquet through the sources'
``external_location``, exactly as the pipeline's models do. It then writes
``WORK/plan.json`` (the models in dependency order: relation, materialization, SQL) and
copies into ``WORK/segmart.duckdb`` the inputs that are not SQL: the dbt seeds and the
k-means tables of source ``ml`` (written by Python between the dbt steps; the replay does not
re-fit them). The file is named like the warehouse so that the compiled relation names
(``"segmart"."marts"."..."``) resolve in it.

``run`` executes the plan in one connection, with the pipeline's DuckDB memory limit and
threads and a temp directory next to the file: a view for each view model, ``create table ...
as`` for each table and incremental model (a full refresh: the compiled code has no window).
Ephemeral models are inlined by dbt into the SQL of the models that use them; tests, unit
tests and hooks are not run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb

from pipelines.core.settings import DBT_PROJECT_DIR, load_config, pii_key
from pipelines.transform.project import dbt_executable, dbt_vars

DATABASE = "segmart.duckdb"  # the warehouse's name: the compiled code says "segmart"."<schema>"
PLAN = "plan.json"
MARTS_SCHEMA = "marts"  # where the marts are, as in the pipeline's warehouse
MATERIALIZED = {"view": "view", "table": "table", "incremental": "table"}


def compile_project(home: Path, target: Path) -> dict:
    """``dbt compile --full-refresh`` against ``home``; the manifest."""
    config = load_config(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMART_WINDOW_")}
    env |= {"SEGMART_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    memory_limit = (config.get("duckdb") or {}).get("memory_limit")
    if memory_limit:
        env["SEGMART_DUCKDB_MEMORY_LIMIT"] = str(memory_limit)
    cmd = [
        dbt_executable(),
        "compile",
        "--full-refresh",
        "--vars",
        dbt_vars(home),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    done = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dbt compile failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return json.loads((target / "manifest.json").read_text())


def plan(manifest: dict) -> dict:
    """The models in dependency order and the relations they read that are not models."""
    nodes = manifest["nodes"]
    models = {
        uid: n
        for uid, n in nodes.items()
        if n["resource_type"] == "model" and n["config"].get("enabled", True)
    }
    graph = {uid: {d for d in n["depends_on"]["nodes"] if d in models} for uid, n in models.items()}
    steps = []
    for uid in TopologicalSorter(graph).static_order():
        node = models[uid]
        materialized = node["config"]["materialized"]
        if materialized == "ephemeral":
            continue  # inlined as a CTE into the compiled code of its readers
        if materialized not in MATERIALIZED:
            raise ValueError(f"{uid}: materialization {materialized!r} cannot be replayed")
        steps.append(
            {
                "model": node["name"],
                "relation": node["relation_name"],
                "database": node["database"],
                "schema": node["schema"],
                "kind": MATERIALIZED[materialized],
                "sql": node["compiled_code"],
            }
        )
    inputs = [
        {"schema": n["schema"], "name": n["alias"], "relation": n["relation_name"]}
        for n in nodes.values()
        if n["resource_type"] == "seed"
    ]
    inputs += [
        {"schema": s["schema"], "name": s["identifier"], "relation": s["relation_name"]}
        for s in manifest["sources"].values()
        if not (s.get("meta") or {}).get("external_location")
        and not (s.get("source_meta") or {}).get("external_location")
    ]
    return {"steps": steps, "inputs": inputs}


def hand_pii_key(con: duckdb.DuckDBPyConnection, home: Path) -> None:
    """Give the connection the home's PII key, as dbt's connections get it (the
    ``pii_hash`` macro reads it from session variables set by the dbt-duckdb plugin)."""
    from pipelines.privacy.duckdb_plugin import set_pii_variables

    set_pii_variables(con, pii_key(home, create=False).pads())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def prepare(home: Path, work: Path) -> dict:
    """Compile against ``home`` and copy the non-SQL inputs into ``work/segmart.duckdb``."""
    work.mkdir(parents=True, exist_ok=True)
    manifest = compile_project(home, work / "target")
    the_plan = plan(manifest) | {"home": str(home)}
    (work / PLAN).write_text(json.dumps(the_plan, indent=1))
    database = work / DATABASE
    database.unlink(missing_ok=True)
    con = duckdb.connect(str(database))
    try:
        warehouse = home / "warehouse" / "segmart.duckdb"
        con.execute(f"attach '{warehouse.as_posix()}' as pipeline (read_only)")
        present = {
            (s, t)
            for s, t in con.execute(
                "select schema_name, table_name from duckdb_tables() "
                "where database_name = 'pipeline'"
            ).fetchall()
        }
        for item in the_plan["inputs"]:
            if (item["schema"], item["name"]) not in present:
                continue  # an optional source (k-means) that never ran: compiled as empty
            con.execute(f"create schema if not exists segmart.{_quote(item['schema'])}")
            con.execute(
                f"create table {item['relation']} as select * from "
                f"pipeline.{_quote(item['schema'])}.{_quote(item['name'])}"
            )
        con.execute("detach pipeline")
    finally:
        con.close()
    return the_plan


def run(work: Path) -> dict[str, float]:
    """Replay the plan in ``work``; seconds per model (and ``total``)."""
    the_plan = json.loads((work / PLAN).read_text())
    duck = load_config().get("duckdb", {})
    con = duckdb.connect(str(work / DATABASE))
    timings: dict[str, float] = {}
    try:
        con.execute(f"set memory_limit = '{duck.get('memory_limit', '3GB')}'")
        con.execute(f"set threads = {int(duck.get('threads', 2))}")
        con.execute(f"set temp_directory = '{(work / 'replay.tmp').as_posix()}'")
        hand_pii_key(con, Path(the_plan["home"]))
        started = time.perf_counter()
        schemas = set()
        for step in the_plan["steps"]:
            if step["schema"] not in schemas:
                con.execute(
                    f"create schema if not exists {_quote(step['database'])}."
                    f"{_quote(step['schema'])}"
                )
                schemas.add(step["schema"])
            t0 = time.perf_counter()
            con.execute(f"create or replace {step['kind']} {step['relation']} as {step['sql']}")
            timings[step["model"]] = round(time.perf_counter() - t0, 3)
        con.execute("checkpoint")
        timings["total"] = round(time.perf_counter() - started, 3)
    finally:
        con.close()
    (work / "replay_timings.json").write_text(json.dumps(timings, indent=1))
    return timings


def total_seconds(work: Path) -> float:
    """Seconds the replay's SQL took (from its first model to the checkpoint)."""
    return json.loads((work / "replay_timings.json").read_text())["total"]


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "prepare":
        the_plan = prepare(Path(argv[1]).resolve(), Path(argv[2]).resolve())
        print(f"replay plan: {len(the_plan['steps'])} models, {len(the_plan['inputs'])} inputs")
        return 0
    if len(argv) == 2 and argv[0] == "run":
        timings = run(Path(argv[1]).resolve())
        slowest = sorted((v, k) for k, v in timings.items() if k != "total")[-5:]
        print(
            f"replay: {timings['total']:.1f} s; slowest "
            + ", ".join(f"{k} {v:.1f}" for v, k in reversed(slowest))
        )
        return 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
