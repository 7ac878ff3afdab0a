"""Where the dbt phase of a pipeline run goes: the slowest nodes and totals per kind.

Copies a built home (never touches it) and runs the pipeline's ``dbt build`` invocations on
the copy, in the pipeline's order and with its selections (pipelines/transform/dbt_assets.py,
dbt_cluster_assets.py): ``segmart_dbt`` (a full refresh of the incremental models) and
``segmart_dbt_after_ml``. Then it reads each ``run_results.json``.

    python -m benchmarks.dbt_profile                      # the scale 0.1 benchmark home
    python -m benchmarks.dbt_profile --home H --top 30    # another built home
    python -m benchmarks.dbt_profile --only segmart_dbt --json out.json

The home must have been built by ``segmart run`` (raw Parquet, seeds' inputs, the k-means
tables the ``after_ml`` models read). dbt writes its target and logs into the copy, so
concurrent runs of the pipeline or the tests are not disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from pipelines.settings import DBT_PROJECT_DIR, REPO_ROOT, HomePaths
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
    args = parser.parse_args(argv)

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
