"""Two replay floors' SQL for a few models, side by side: seconds, CPU, peak memory and spill
per model, alternating A and B in one process, and whether the two builds hold the same rows.

    python -m benchmarks.replay_ab WORK_A WORK_B --models stg_web__events,int_sessions \\
        [--repeat 2] [--memory-limit 300MB] [--json out.json]

WORK_A and WORK_B are replay floors made by ``python -m benchmarks.replay_floor prepare`` (e.g.
A from a clone of the commit before a change, B from the checkout after it) on the same built
home, and replayed once (``replay_floor run``) so that each database holds every model's
inputs. Each repeat rebuilds the named models in their plan order, A then B per model, with
the pipeline's threads, the given memory limit (default: the pipeline's) and a temp directory
beside each database; DuckDB's own profiler gives the CPU time, the peak buffer memory and
the peak size of the temp directory (the spill) of each statement. Afterwards each model's
table in A and in B is compared row for row (``except all`` both ways, on the columns both
have; columns only one side has are listed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.replay_floor import DATABASE, PLAN, hand_pii_key
from pipelines.core.settings import load_config


def _connect(work: Path, memory_limit: str, threads: int) -> duckdb.DuckDBPyConnection:
    plan = json.loads((work / PLAN).read_text())
    con = duckdb.connect(str(work / DATABASE))
    con.execute(f"set memory_limit = '{memory_limit}'")
    con.execute(f"set threads = {threads}")
    con.execute(f"set temp_directory = '{(work / 'replay.tmp').as_posix()}'")
    hand_pii_key(con, Path(plan["home"]))
    return con


def build(con: duckdb.DuckDBPyConnection, step: dict, profile_file: Path) -> dict:
    """Rebuild one model; its wall seconds and DuckDB's profile of the statement."""
    con.execute("pragma enable_profiling = 'json'")
    con.execute(f"pragma profiling_output = '{profile_file.as_posix()}'")
    started = time.perf_counter()
    con.execute(f"create or replace {step['kind']} {step['relation']} as {step['sql']}")
    seconds = time.perf_counter() - started
    con.execute("pragma disable_profiling")
    profile = json.loads(profile_file.read_text())
    system = profile.get("system", {})
    return {
        "seconds": round(seconds, 3),
        "cpu_s": round(profile.get("query", {}).get("cpu_time", 0.0), 3),
        "peak_memory_mb": round(system.get("peak_buffer_memory", 0) / 2**20, 1),
        "spill_mb": round(system.get("peak_temp_dir_size", 0) / 2**20, 1),
    }


def compare(work_a: Path, work_b: Path, models: list[dict]) -> dict[str, dict]:
    """Row-for-row comparison of each model's table in A and B."""
    con = duckdb.connect()
    out = {}
    try:
        con.execute(f"attach '{(work_a / DATABASE).as_posix()}' as side_a (read_only)")
        con.execute(f"attach '{(work_b / DATABASE).as_posix()}' as side_b (read_only)")
        for step_a, step_b in models:
            rel_a = step_a["relation"].replace('"segmart".', "side_a.", 1)
            rel_b = step_b["relation"].replace('"segmart".', "side_b.", 1)
            cols_a = [r[0] for r in con.execute(f"describe {rel_a}").fetchall()]
            cols_b = [r[0] for r in con.execute(f"describe {rel_b}").fetchall()]
            common = ", ".join(f'"{c}"' for c in cols_a if c in cols_b)
            only_a = con.execute(
                f"select count(*) from (select {common} from {rel_a} "
                f"except all select {common} from {rel_b})"
            ).fetchone()[0]
            only_b = con.execute(
                f"select count(*) from (select {common} from {rel_b} "
                f"except all select {common} from {rel_a})"
            ).fetchone()[0]
            rows_a = con.execute(f"select count(*) from {rel_a}").fetchone()[0]
            out[step_a["model"]] = {
                "rows": rows_a,
                "rows_only_in_a": only_a,
                "rows_only_in_b": only_b,
                "columns_only_in_a": [c for c in cols_a if c not in cols_b],
                "columns_only_in_b": [c for c in cols_b if c not in cols_a],
                "equal_on_common_columns": only_a == 0 and only_b == 0,
            }
    finally:
        con.close()
    return out


def run(
    work_a: Path, work_b: Path, models: list[str], repeat: int, memory_limit: str | None
) -> dict:
    duck = load_config().get("duckdb", {})
    memory_limit = memory_limit or duck.get("memory_limit", "3GB")
    threads = int(duck.get("threads", 2))
    plans = [json.loads((w / PLAN).read_text()) for w in (work_a, work_b)]
    steps = [{s["model"]: s for s in p["steps"]} for p in plans]
    order = [s["model"] for s in plans[1]["steps"] if s["model"] in models]
    missing = set(models) - set(order)
    if missing:
        raise SystemExit(f"not in B's plan: {sorted(missing)}")
    runs: dict[str, dict[str, list[dict]]] = {m: {"a": [], "b": []} for m in order}
    with tempfile.TemporaryDirectory(prefix="replay_ab_") as tmp:
        profile_file = Path(tmp) / "profile.json"
        cons = {
            "a": _connect(work_a, memory_limit, threads),
            "b": _connect(work_b, memory_limit, threads),
        }
        try:
            for _ in range(repeat):
                for model in order:
                    for side, index in (("a", 0), ("b", 1)):
                        runs[model][side].append(
                            build(cons[side], steps[index][model], profile_file)
                        )
            for con in cons.values():
                con.execute("checkpoint")
        finally:
            for con in cons.values():
                con.close()
    summary = {}
    for model, sides in runs.items():
        summary[model] = {
            side: {
                key: statistics.median(r[key] for r in rows)
                for key in ("seconds", "cpu_s", "peak_memory_mb", "spill_mb")
            }
            for side, rows in sides.items()
        }
    equal = compare(work_a, work_b, [(steps[0][m], steps[1][m]) for m in order])
    return {
        "work_a": str(work_a),
        "work_b": str(work_b),
        "memory_limit": memory_limit,
        "threads": threads,
        "repeat": repeat,
        "median": summary,
        "runs": runs,
        "comparison": equal,
    }


def report(data: dict) -> str:
    lines = [
        f"A {data['work_a']}  vs  B {data['work_b']}: memory limit {data['memory_limit']}, "
        f"{data['threads']} threads, median of {data['repeat']}",
        "",
        f"{'model':<24}{'s A':>8}{'s B':>8}{'cpu A':>8}{'cpu B':>8}{'mem A':>8}{'mem B':>8}"
        f"{'spill A':>9}{'spill B':>9}  same rows",
    ]
    totals = {"a": [0.0, 0.0], "b": [0.0, 0.0]}
    for model, sides in data["median"].items():
        a, b = sides["a"], sides["b"]
        for side, row in (("a", a), ("b", b)):
            totals[side][0] += row["seconds"]
            totals[side][1] += row["cpu_s"]
        same = data["comparison"][model]
        mark = (
            "yes"
            if same["equal_on_common_columns"]
            else (f"NO ({same['rows_only_in_a']} / {same['rows_only_in_b']})")
        )
        if same["columns_only_in_a"]:
            mark += f"; {len(same['columns_only_in_a'])} columns only in A"
        lines.append(
            f"{model:<24}{a['seconds']:>8.2f}{b['seconds']:>8.2f}{a['cpu_s']:>8.1f}"
            f"{b['cpu_s']:>8.1f}{a['peak_memory_mb']:>8.0f}{b['peak_memory_mb']:>8.0f}"
            f"{a['spill_mb']:>9.0f}{b['spill_mb']:>9.0f}  {mark}"
        )
    lines.append(
        f"{'total':<24}{totals['a'][0]:>8.2f}{totals['b'][0]:>8.2f}"
        f"{totals['a'][1]:>8.1f}{totals['b'][1]:>8.1f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work_a", type=Path)
    parser.add_argument("work_b", type=Path)
    parser.add_argument("--models", required=True, help="comma-separated model names")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--memory-limit", help="DuckDB memory limit (default: the pipeline's)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    data = run(
        args.work_a.resolve(),
        args.work_b.resolve(),
        [m.strip() for m in args.models.split(",") if m.strip()],
        args.repeat,
        args.memory_limit,
    )
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))
    print(report(data))


if __name__ == "__main__":
    main()
