"""One new day after a full run, with a baseline commit and with this checkout, side by side.

For each version of the code (the baseline checked out in a temporary git worktree, and this
checkout): a full ``segmart run`` of the benchmark's base landing (``benchmarks.run``'s
dataset, cached), kept as a pristine copy; then, ``--repeat`` times and alternating the
versions, the home restored from its copy at the same path (dbt's partial parse and the
staging views name it), the new-day files landed, and ``segmart run`` measured. Prints the
median wall time and phases of each and the ratio current / baseline; ``--json`` writes them.

    python -m benchmarks.incremental_ab --baseline a2c4f9a --scale 1 --repeat 2

``--current C`` measures commit C (a clean worktree) instead of this checkout, whose other
uncommitted edits then stay out of the comparison. The base runs' wall time, phases and dbt
seconds are kept too (``full_runs``).

Each measured run also records the dbt time per node (model, seed or test: the seconds dbt
logged for it in the run's log, both dbt builds) under ``dbt_s``; the summary prints the
slowest models and the models downstream of the events (issue 21.2).

``--versus-full`` measures one checkout alone instead: a full run of the base landing plus the
new day on a fresh home, and one new day after a full run of the base landing (the home
restored from its pristine copy each time), alternating, ``--repeat`` times; it prints both
medians and the ratio one new day / full run (the goal of issue 21.2: <= 0.15 at scale 10).

    python -m benchmarks.incremental_ab --versus-full --scale 1 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks.run import REPO_ROOT, ensure_dataset, fresh_home, land_new_day, log, segmart_run

# the marts downstream of the events and int_touchpoints (issue 21.2), always printed
WATCHED = (
    "int_touchpoints",
    "fct_touchpoints",
    "fct_sessions",
    "fct_conversions",
    "fct_attribution",
    "kpi_channel_daily",
)
_NODE = re.compile(
    r"\d+ of \d+ (OK created sql \w+ model|OK loaded seed file|PASS|WARN \d+|FAIL \d+)"
    r"\s+(?:\w+\.)?(\S+) \.+ \[.*? in ([0-9.]+)s\]"
)


def dbt_seconds(home: Path) -> dict[str, dict[str, float]]:
    """{"models": {name: s}, "tests": {name: s}} of the home's latest run: the seconds dbt
    logged per node (seeds count as models), both dbt builds."""
    out: dict[str, dict[str, float]] = {"models": {}, "tests": {}}
    log_file = home / "logs" / "latest.log"
    if not log_file.exists():
        return out
    for line in log_file.read_text(errors="replace").splitlines():
        m = _NODE.search(re.sub(r"\x1b\[[0-9;]*m", "", line))
        if m:
            kind = "models" if m.group(1).startswith("OK") else "tests"
            out[kind][m.group(2)] = out[kind].get(m.group(2), 0.0) + float(m.group(3))
    return out


def dbt_summary(seconds: dict[str, dict[str, float]], top: int = 8) -> dict:
    """Sum of node seconds, tests apart, the slowest models and the watched ones."""
    models, tests = seconds["models"], seconds["tests"]
    slowest = sorted(models.items(), key=lambda kv: -kv[1])[:top]
    return {
        "nodes_s": round(sum(models.values()) + sum(tests.values()), 2),
        "tests_s": round(sum(tests.values()), 2),
        "slowest": {k: round(v, 2) for k, v in slowest},
        "watched": {k: round(models.get(k, 0.0), 2) for k in WATCHED},
    }


def _worktree(commit: str, where: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(where), commit],
        check=True,
        capture_output=True,
    )
    return where


def _restore(pristine: Path, home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(pristine, home, symlinks=True)


def compare(
    baseline: str, scale: float, seed: int, repeat: int, work: Path, current: str | None = None
) -> dict:
    """{version: {"wall_s": [...], "phases": [...]}} and the medians' ratio."""
    root = ensure_dataset(scale, seed)
    repos = {
        "baseline": _worktree(baseline, work / "baseline_repo"),
        "current": _worktree(current, work / "current_repo") if current else REPO_ROOT,
    }
    homes = {}
    full = {}
    for name, repo in repos.items():
        home = fresh_home(work / name / "home", root / "base")
        m, info = segmart_run(home, repo=repo)
        if m.returncode != 0:
            raise SystemExit(f"{name}: the full run failed (see {home / 'logs'})")
        log(f"{name}: full run {m.wall_s:.1f} s")
        full[name] = {
            "wall_s": round(m.wall_s, 2),
            "phases": info["phases"],
            "dbt": dbt_summary(dbt_seconds(home)),
        }
        shutil.copytree(home, work / name / "pristine", symlinks=True)
        homes[name] = home
    out = {name: {"wall_s": [], "phases": []} for name in repos}
    for i in range(repeat):
        order = list(repos) if i % 2 == 0 else list(reversed(repos))
        for name in order:
            home = homes[name]
            _restore(work / name / "pristine", home)
            land_new_day(root / "new_day", home)
            m, info = segmart_run(home, repo=repos[name])
            if m.returncode != 0:
                raise SystemExit(f"{name}: the one-day run failed (see {home / 'logs'})")
            log(f"{name}: one new day {m.wall_s:.1f} s {info['phases']}")
            out[name]["wall_s"].append(round(m.wall_s, 2))
            out[name]["phases"].append(info["phases"])
            out[name].setdefault("dbt", []).append(dbt_summary(dbt_seconds(home)))
    medians = {name: statistics.median(v["wall_s"]) for name, v in out.items()}
    return {
        "scale": scale,
        "baseline": baseline,
        "runs": out,
        "full_runs": full,
        "median_s": medians,
        "current_over_baseline": round(medians["current"] / medians["baseline"], 3),
    }


def versus_full(scale: float, seed: int, repeat: int, work: Path, repo: Path = REPO_ROOT) -> dict:
    """One new day against a full run of the same data, the code of ``repo``, side by side."""
    root = ensure_dataset(scale, seed)
    incremental = work / "incremental" / "home"
    fresh_home(incremental, root / "base")
    m, _ = segmart_run(incremental, repo=repo)
    if m.returncode != 0:
        raise SystemExit(f"the base run failed (see {incremental / 'logs'})")
    shutil.copytree(incremental, work / "incremental" / "pristine", symlinks=True)
    out = {"full": {"wall_s": [], "phases": []}, "one_new_day": {"wall_s": [], "phases": []}}
    for i in range(repeat):
        order = ["full", "one_new_day"] if i % 2 == 0 else ["one_new_day", "full"]
        for name in order:
            if name == "full":
                home = work / "full" / "home"
                shutil.rmtree(home, ignore_errors=True)
                fresh_home(home, root / "base")
            else:
                home = incremental
                _restore(work / "incremental" / "pristine", home)
            land_new_day(root / "new_day", home)
            m, info = segmart_run(home, repo=repo)
            if m.returncode != 0:
                raise SystemExit(f"{name}: the run failed (see {home / 'logs'})")
            log(f"{name}: {m.wall_s:.1f} s {info['phases']}")
            out[name]["wall_s"].append(round(m.wall_s, 2))
            out[name]["phases"].append(info["phases"])
            out[name].setdefault("dbt", []).append(dbt_summary(dbt_seconds(home)))
    medians = {name: statistics.median(v["wall_s"]) for name, v in out.items()}
    return {
        "scale": scale,
        "runs": out,
        "median_s": medians,
        "one_new_day_over_full": round(medians["one_new_day"] / medians["full"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a commit to compare against")
    parser.add_argument(
        "--current", help="a commit to measure instead of this checkout (a clean worktree)"
    )
    parser.add_argument(
        "--versus-full", action="store_true", help="one new day against a full run, this code"
    )
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="checkout (--versus-full)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    if args.versus_full:
        with tempfile.TemporaryDirectory(prefix="incremental_vs_full_") as tmp:
            result = versus_full(args.scale, args.seed, args.repeat, Path(tmp), args.repo)
        for name, runs in result["runs"].items():
            print(f"{name:<12} {runs['wall_s']} s (median {result['median_s'][name]})")
            for phases, dbt in zip(runs["phases"], runs.get("dbt", []), strict=False):
                print(f"             {phases}")
                print(f"             dbt {dbt}")
        print(f"one new day / full run: {result['one_new_day_over_full']}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        return 0
    if not args.baseline:
        parser.error("--baseline or --versus-full")
    with tempfile.TemporaryDirectory(prefix="incremental_ab_") as tmp:
        try:
            result = compare(
                args.baseline, args.scale, args.seed, args.repeat, Path(tmp), args.current
            )
        finally:
            for repo in ("baseline_repo", "current_repo"):
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(REPO_ROOT),
                        "worktree",
                        "remove",
                        "--force",
                        str(Path(tmp) / repo),
                    ],
                    capture_output=True,
                )
    for name, runs in result["runs"].items():
        print(f"{name:<9} one new day: {runs['wall_s']} s (median {result['median_s'][name]})")
        for phases, dbt in zip(runs["phases"], runs.get("dbt", []), strict=False):
            print(f"          {phases}")
            print(f"          dbt {dbt}")
    for name, run in result["full_runs"].items():
        print(f"{name:<9} full run of the base landing: {run['wall_s']} s {run['phases']}")
        print(f"          dbt {run['dbt']}")
    print(f"current / baseline: {result['current_over_baseline']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
