"""Where the dbt phase of a pipeline run goes: the slowest nodes and totals per kind.

Copies a built home (never touches it) and runs the pipeline's ``dbt build`` invocations on
the copy, in the pipeline's order and with its selections (pipelines/transform/dbt_assets.py,
dbt_cluster_assets.py): ``segmart_dbt`` (a full refresh of the incremental models) and
``segmart_dbt_after_ml``. Then it reads each ``run_results.json``.

    python -m benchmarks.dbt_profile                      # the scale 0.1 benchmark home
    python -m benchmarks.dbt_profile --home H --top 30    # another built home
    python -m benchmarks.dbt_profile --only segmart_dbt --json out.json
    python -m benchmarks.dbt_profile --replay WORK --json out.json   # spill per model

``--replay WORK [--memory-limit 300MB]`` profiles the replay floor instead (``benchmarks/replay_floor.py``; WORK made
by its ``prepare``): each model's SQL in one DuckDB connection, as ``replay_floor run`` does,
with the peak size of DuckDB's temp directory while the model ran (what it spilled to disk
under the pipeline's memory limit) and the database file's growth.

The home must have been built by ``segmart run`` (raw Parquet, seeds' inputs, the k-means
tables the ``after_ml`` models read). dbt writes its target and logs into the copy, so
concurrent runs of the pipeline or the tests are not disturbed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from pipelines.core.settings import DBT_PROJECT_DIR, REPO_ROOT, HomePaths
from pipelines.transform.project import dbt_env, dbt_executable, dbt_vars

DEFAULT_HOME = REPO_ROOT / "benchmarks" / "cache" / "scale_0.1_seed_42" / "runs" / "pipeline"
AFTER_ML_TAG = "after_ml"  # pipelines/transform/dbt_cluster_assets.py

# (name, select, exclude, extra args): as the @dbt_assets run them without a subset
INVOCATIONS: list[tuple[str, str, str, list[str]]] = [
    ("segmart_dbt", "fqn:*", f"tag:{AFTER_ML_TAG}", ["--full-refresh"]),
    ("segmart_dbt_after_ml", f"tag:{AFTER_ML_TAG}", "", []),
]
# copied from the home: what dbt reads (the rest, e.g. serving/ and dagster_home/, is not)
HOME_PARTS = ("raw", "warehouse", "segmart.yaml")


def copy_home(source: Path, dest: Path) -> Path:
    """The parts of ``source`` that dbt reads, copied into ``dest``."""
    if not (source / "warehouse" / "segmart.duckdb").exists():
        sys.exit(f"{source} is not a built home (no warehouse/segmart.duckdb)")
    dest.mkdir(parents=True, exist_ok=True)
    for part in HOME_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dest / part)
    return dest


def run_dbt(args: list[str], target: Path, env: dict[str, str]) -> float:
    """One dbt command in the project, target and logs in ``target``; its wall seconds."""
    cmd = [
        dbt_executable(),
        *args,
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode not in (0, 1):  # 1: some node failed or warned; still profiled
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    if result.returncode == 1:
        print(f"warning: `dbt {args[0]}` reported failures (see {target}/logs)", file=sys.stderr)
    return wall


def node_kind(unique_id: str, nodes: dict) -> str:
    """``model:<materialization>``, ``seed``, ``unit_test``, or ``test on <materialization of
    its model>``."""
    node = nodes.get(unique_id, {})
    resource = node.get("resource_type") or unique_id.split(".")[0]
    if resource == "model":
        return f"model:{node['config'].get('materialized')}"
    if resource == "test":
        parent = node.get("attached_node") or next(
            (d for d in node.get("depends_on", {}).get("nodes", []) if d.startswith("model.")),
            None,
        )
        if parent in nodes:
            return f"test on {nodes[parent]['config'].get('materialized')}"
        return "test on source/seed"
    return resource


def profile(home: Path, only: set[str] | None) -> dict:
    """Run the invocations on ``home`` (a copy); per invocation its wall and node timings."""
    dbt_env(HomePaths(home))
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = home / "dbt_target"
    variables = dbt_vars(home)
    parse_s = run_dbt(["parse", "--vars", variables], target, env)
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = manifest["nodes"]
    out: dict = {"home": str(home), "parse_s": round(parse_s, 2), "invocations": []}
    for name, select, exclude, extra in INVOCATIONS:
        if only and name not in only:
            continue
        args = ["build", "--vars", variables, "--select", select, *extra]
        if exclude:
            args += ["--exclude", exclude]
        wall = run_dbt(args, target, env)
        results = json.loads((target / "run_results.json").read_text())
        rows = [
            {
                "node": r["unique_id"],
                "kind": node_kind(r["unique_id"], nodes),
                "status": r["status"],
                "seconds": round(r["execution_time"], 3),
            }
            for r in results["results"]
        ]
        out["invocations"].append(
            {
                "name": name,
                "wall_s": round(wall, 2),
                "dbt_elapsed_s": round(results.get("elapsed_time", 0.0), 2),
                "nodes": rows,
            }
        )
    return out


def _directory_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):  # a spill file removed while we looked
            total += path.stat().st_size
    return total


def replay_spill(work: Path, memory_limit: str | None = None, poll_s: float = 0.1) -> dict:
    """The replay floor's plan in ``work``, model by model, with DuckDB's temp directory
    polled every ``poll_s`` seconds: {models: [{model, seconds, spill_peak_mb}], ...}."""
    import threading

    import duckdb

    from benchmarks.replay_floor import DATABASE, PLAN, _quote, hand_pii_key
    from pipelines.core.settings import load_config

    the_plan = json.loads((work / PLAN).read_text())
    duck = load_config().get("duckdb", {})
    temp = work / "replay.tmp"
    temp.mkdir(exist_ok=True)
    peak = [0]
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _directory_bytes(temp))
            time.sleep(poll_s)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    con = duckdb.connect(str(work / DATABASE))
    rows = []
    try:
        memory_limit = memory_limit or duck.get("memory_limit", "3GB")
        con.execute(f"set memory_limit = '{memory_limit}'")
        con.execute(f"set threads = {int(duck.get('threads', 2))}")
        con.execute(f"set temp_directory = '{temp.as_posix()}'")
        hand_pii_key(con, Path(the_plan["home"]))
        started = time.perf_counter()
        for step in the_plan["steps"]:
            con.execute(
                f"create schema if not exists {_quote(step['database'])}.{_quote(step['schema'])}"
            )
            peak[0] = 0
            t0 = time.perf_counter()
            con.execute(f"create or replace {step['kind']} {step['relation']} as {step['sql']}")
            seconds = time.perf_counter() - t0
            time.sleep(poll_s)
            rows.append(
                {
                    "model": step["model"],
                    "seconds": round(seconds, 3),
                    "spill_peak_mb": round(peak[0] / 2**20, 1),
                }
            )
        con.execute("checkpoint")
        total = time.perf_counter() - started
    finally:
        stop.set()
        con.close()
    return {
        "work": str(work),
        "memory_limit": memory_limit,
        "total_s": round(total, 2),
        "database_mb": round((work / DATABASE).stat().st_size / 2**20, 1),
        "models": rows,
    }


def replay_report(data: dict, top: int) -> str:
    rows = data["models"]
    spilled = [r for r in rows if r["spill_peak_mb"] > 0]
    lines = [
        f"replay {data['work']}: {data['total_s']:.1f} s of SQL, {len(rows)} models, "
        f"memory limit {data['memory_limit']}; {len(spilled)} spilled (peak of the largest "
        f"{max((r['spill_peak_mb'] for r in rows), default=0):.0f} MB)",
        "",
        f"{'seconds':>8}{'spill MB':>10}  model",
    ]
    for r in sorted(rows, key=lambda r: (-r["seconds"], -r["spill_peak_mb"]))[:top]:
        lines.append(f"{r['seconds']:>8.2f}{r['spill_peak_mb']:>10.0f}  {r['model']}")
    return "\n".join(lines)


def report(data: dict, top: int) -> str:
    lines = [f"home {data['home']}  (dbt parse {data['parse_s']:.1f} s)", ""]
    lines.append(f"{'invocation':<24}{'wall s':>8}{'dbt s':>8}{'nodes':>7}{'sum node s':>12}")
    all_nodes = []
    for inv in data["invocations"]:
        total = sum(n["seconds"] for n in inv["nodes"])
        lines.append(
            f"{inv['name']:<24}{inv['wall_s']:>8.1f}{inv['dbt_elapsed_s']:>8.1f}"
            f"{len(inv['nodes']):>7}{total:>12.1f}"
        )
        all_nodes += [{**n, "invocation": inv["name"]} for n in inv["nodes"]]
    wall = sum(i["wall_s"] for i in data["invocations"])
    elapsed = sum(i["dbt_elapsed_s"] for i in data["invocations"])
    node_sum = sum(n["seconds"] for n in all_nodes)
    lines.append(f"{'total':<24}{wall:>8.1f}{elapsed:>8.1f}{len(all_nodes):>7}{node_sum:>12.1f}")
    lines += ["", f"{'kind':<24}{'nodes':>7}{'seconds':>10}{'share':>8}"]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for n in all_nodes:
        by_kind[n["kind"]].append(n["seconds"])
    for kind, secs in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
        share = sum(secs) / node_sum if node_sum else 0.0
        lines.append(f"{kind:<24}{len(secs):>7}{sum(secs):>10.1f}{share:>8.0%}")
    lines += ["", f"slowest {top} nodes", f"{'seconds':>8}  {'kind':<20}{'invocation':<22}node"]
    for n in sorted(all_nodes, key=lambda n: -n["seconds"])[:top]:
        flag = "" if n["status"] in ("success", "pass") else f"  [{n['status']}]"
        node = n["node"].split(".", 2)[-1]
        lines.append(f"{n['seconds']:>8.2f}  {n['kind']:<20}{n['invocation']:<22}{node}{flag}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="a built home (copied)")
    parser.add_argument("--work", type=Path, help="where to copy it (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the copy (its warehouse)")
    parser.add_argument("--only", action="append", help="an invocation name (repeatable)")
    parser.add_argument("--top", type=int, default=25, help="slowest nodes to list")
    parser.add_argument("--json", type=Path, help="also write every node's timing here")
    parser.add_argument("--replay", type=Path, help="a replay floor WORK: spill per model")
    parser.add_argument(
        "--memory-limit",
        help="DuckDB memory limit of --replay (default: the pipeline's); e.g. 300MB on scale 1 "
        "puts the memory pressure of scale 10 under 3GB on the same SQL",
    )
    args = parser.parse_args(argv)
    if args.replay:
        data = replay_spill(args.replay.resolve(), args.memory_limit)
        if args.json:
            args.json.write_text(json.dumps(data, indent=1))
        print(replay_report(data, args.top))
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="dbt_profile_"))
    try:
        home = copy_home(args.home.resolve(), work)
        data = profile(home, set(args.only) if args.only else None)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))
    print(report(data, args.top))
    if args.keep:
        print(f"\ncopy kept in {work}")


if __name__ == "__main__":
    main()
