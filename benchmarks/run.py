"""The benchmark harness (``make bench`` = ``python -m benchmarks.run``).

For each scale: generate the demo landing once (cached in ``benchmarks/cache``), then measure
side by side, each in a fresh home:

(a) the full pipeline, ``segmart run`` as a subprocess, phase by phase (Dagster event log);
(b) the floor, ``benchmarks/floor/*.sql`` on the landing files in one DuckDB;
(r) the replay floor, the project's own compiled dbt SQL replayed in one DuckDB connection on
    (a)'s raw Parquet (``benchmarks/replay_floor.py``: no dbt, no Dagster, no GX), right after
    (a): a/r is the orchestration's share, r/b the models' SQL's;
(c) the same marts in pandas (``benchmarks/pandas_impl.py``);
(d) the pipeline with checks off, ``segmart run --no-checks``;
and in (a)'s home afterwards: the fixed overhead (a run with nothing new to load) and an
incremental run after one new day has landed (the last GA4 day files and one ad report,
held out of the base landing). Then it proves a, b and c agree (benchmarks/agreement.py) and
writes ``benchmarks/results/<timestamp>_<commit>_scale-<S>.json`` and ``results/latest.md``.

Timings are measurements, never assertions: nothing here fails because something is slow.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import agreement, replay_floor, report
from benchmarks.measure import Measurement, run_measured
from benchmarks.phases import group_phases, read_latest_run

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / "cache"
RESULTS_DIR = BENCH_DIR / "results"
QUICK_SCALE = 0.01
STEPS = ("floor", "pandas", "pipeline", "replay", "checks_off")
SHARED_MACHINE_NOTE = (
    "measured on a 2-core machine shared with other engineers' builds and tests at the same "
    "time: timings are noisy upper bounds (see load_avg_start / load_avg_end)"
)


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# --------------------------------------------------------------------------- datasets


def dataset_dir(scale: float, seed: int) -> Path:
    return CACHE_DIR / f"scale_{scale:g}_seed_{seed}"


def generator_hash() -> str:
    """sha256 of the demo generator's source: a cached dataset from other code is stale."""
    from pipelines.automation.up_to_date import content_hash

    # paths relative to the generator's own folder: moving the folder keeps the caches valid;
    # __main__.py is the command line only, not what the data is made of
    folder = REPO_ROOT / "generator"
    return content_hash((p for p in folder.rglob("*.py") if p.name != "__main__.py"), folder)


def ensure_dataset(scale: float, seed: int) -> Path:
    """Generate the landing of (scale, seed) once per generator version; split it into
    ``base`` and ``new_day``."""
    root = dataset_dir(scale, seed)
    landing = root / "landing"
    stamp = root / "generator.sha256"
    current = generator_hash()
    stale = not stamp.exists() or stamp.read_text() != current
    if stale or not (landing / "_expected.json").exists():
        from generator import generate

        log(f"generating scale {scale:g} seed {seed} into {landing}")
        shutil.rmtree(landing, ignore_errors=True)
        (root / "split.json").unlink(missing_ok=True)
        generate(landing, scale, seed)
        stamp.write_text(current)
    if not (root / "split.json").exists():
        split_new_day(landing, root)
    return root


def held_out_files(landing: Path) -> list[Path]:
    """The files of the "new day": GA4 files of the window's last day and later (the late
    rows of that day), plus the last TikTok monthly report (a small ad file)."""
    expected = json.loads((landing / "_expected.json").read_text())
    last_day = expected["window"]["end"].replace("-", "")
    ga4 = [p for p in sorted(landing.glob("web/ga4/events_*.jsonl.gz")) if p.name[7:15] >= last_day]
    tiktok = sorted(landing.glob("ads/tiktok_ads/*.csv"))[-1:]
    return ga4 + tiktok


def split_new_day(landing: Path, root: Path) -> None:
    """Hard-link the landing into ``base`` (everything but the new day) and ``new_day``."""
    held = {p.relative_to(landing) for p in held_out_files(landing)}
    for target in ("base", "new_day"):
        shutil.rmtree(root / target, ignore_errors=True)
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        rel = path.relative_to(landing)
        dest = root / ("new_day" if rel in held else "base") / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, dest)
    (root / "split.json").write_text(json.dumps({"new_day": sorted(map(str, held))}, indent=2))


def landing_rows(base: Path) -> int:
    """Data rows of the landing files in ``base`` (the generator's ``_expected.json``)."""
    expected = json.loads((base / "_expected.json").read_text())
    return sum(f["data_rows"] for rel, f in expected["files"].items() if (base / rel).exists())


# --------------------------------------------------------------------------- measurements


def fresh_home(path: Path, landing: Path | None) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    if landing is not None:
        shutil.copytree(landing, path / "landing" / "demo")
    return path


def land_new_day(new_day: Path, home: Path) -> None:
    """Copy the held-out new-day files into ``home``'s landing."""
    for path in sorted(p for p in new_day.rglob("*") if p.is_file()):
        dest = home / "landing" / "demo" / path.relative_to(new_day)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)


def segmart_run(
    home: Path, no_checks: bool = False, force: bool = False, repo: Path = REPO_ROOT
) -> tuple[Measurement, dict]:
    """``segmart run`` in ``home`` as a subprocess (the code of ``repo``); its measurement and
    phase timings.

    A run that found nothing new starts no Dagster run: status ``SKIPPED``, all of its wall
    time in the ``startup`` phase."""
    env = os.environ | {
        "SEGMART_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
        "PYTHONPATH": str(repo),
    }
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home)]
    if no_checks:
        cmd.append("--no-checks")
    if force:
        cmd.append("--force")
    before = _latest_run_id(home / "dagster_home")
    runs = len(list((home / "logs").glob("run_*.log"))) if (home / "logs").exists() else 0
    m = run_measured(
        cmd,
        env=env,
        cwd=home,  # DuckDB's in-memory spill (.tmp in the cwd) lands in the home
        log_file=home / "logs" / f"run_{runs + 1}.log",
        spill_dirs=(home / "warehouse" / "segmart.duckdb.tmp", home / ".tmp"),
    )
    if m.returncode == 0 and _latest_run_id(home / "dagster_home") == before:
        return m, {"status": "SKIPPED", "phases": {"startup": round(m.wall_s, 3)}, "steps": {}}
    try:
        run = read_latest_run(home / "dagster_home")
        phases = group_phases(run["steps"], m.wall_s, run["run_s"])
        info = {"run_id": run["run_id"], "status": run["status"], "phases": phases}
        info["steps"] = run["steps"]
    except LookupError as exc:
        info = {"status": "NO_RUN", "error": str(exc), "phases": {}, "steps": {}}
    return m, info


def _latest_run_id(dagster_home: Path) -> str | None:
    try:
        return read_latest_run(dagster_home)["run_id"]
    except (LookupError, OSError):
        return None
    except Exception:  # no instance storage yet
        return None


def python_module(module: str, *args: str, spill: tuple[Path, ...] = ()) -> Measurement:
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
    return run_measured(
        [sys.executable, "-m", module, *args], env=env, cwd=REPO_ROOT, spill_dirs=spill
    )


def serving_metrics(home: Path) -> dict[str, float | None]:
    """Agreement metrics of the pipeline's published marts (serving DuckDB)."""
    path = home / "serving" / "marts.duckdb"
    if not path.exists():
        return {m.name: None for m in agreement.METRICS}
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        schemas = [
            s
            for (s,) in con.execute(
                "select table_schema from information_schema.tables "
                "where table_name = 'fct_orders' order by table_schema = 'marts' desc"
            ).fetchall()
        ]
        if schemas:
            con.execute(f"set schema '{schemas[0]}'")
        return agreement.collect(con)
    finally:
        con.close()


def _check(m: Measurement, what: str, notes: list[str]) -> float | None:
    if m.returncode != 0:
        tail = (m.stderr or m.stdout).strip().splitlines()[-5:]
        notes.append(f"{what} failed (exit {m.returncode}): {' / '.join(tail)}")
        log(f"{what} FAILED, exit {m.returncode}")
    else:
        log(f"{what}: {m.wall_s:.1f} s, peak RSS {m.peak_rss_mb:.0f} MB")
    return round(m.wall_s, 3)


def bench_scale(scale: float, seed: int, steps: tuple[str, ...]) -> dict:
    """Every measurement of one scale; the result document."""
    root = ensure_dataset(scale, seed)
    base, new_day = root / "base", root / "new_day"
    work = root / "runs"
    notes: list[str] = [SHARED_MACHINE_NOTE]
    timings: dict[str, float | None] = dict.fromkeys(
        (
            "pipeline_s",
            "floor_s",
            "replay_s",
            "pandas_s",
            "checks_off_s",
            "overhead_s",
            "incremental_s",
        )
    )
    rss: dict[str, float | None] = {}
    spill: dict[str, float | None] = {}
    phases: dict[str, dict] = {}
    values: dict[str, dict] = {}
    load_start = os.getloadavg()[0]
    commit, dirty = _commit(), _dirty()  # the code measured is the code at the start

    if "floor" in steps:
        out_db = fresh_home(work / "floor", None) / "floor.duckdb"
        m = python_module(
            "benchmarks.floor_run", str(base), str(out_db), spill=(out_db.with_suffix(".tmp"),)
        )
        timings["floor_s"] = _check(m, "(b) floor", notes)
        rss["floor"], spill["floor"] = round(m.peak_rss_mb), round(m.peak_spill_mb, 1)
        values["floor"] = agreement.collect_duckdb(out_db)

    if "pandas" in steps:
        out_dir = fresh_home(work / "pandas", None)
        m = python_module("benchmarks.pandas_impl", str(base), str(out_dir))
        timings["pandas_s"] = _check(m, "(c) pandas", notes)
        rss["pandas"] = round(m.peak_rss_mb)
        values["pandas"] = agreement.collect_parquet(out_dir)

    if "pipeline" in steps:
        home = fresh_home(work / "pipeline", base)
        m, info = segmart_run(home)
        timings["pipeline_s"] = _check(m, "(a) pipeline", notes)
        rss["pipeline"], spill["pipeline"] = round(m.peak_rss_mb), round(m.peak_spill_mb, 1)
        phases["full"] = info["phases"] | {"status": info["status"]}
        values["pipeline"] = serving_metrics(home)

        if "replay" in steps:  # on (a)'s raw layer, before the next runs change it
            replay = fresh_home(work / "replay", None)
            replay_floor.prepare(home, replay)  # dbt compile, seeds and k-means tables: untimed
            m = python_module(
                "benchmarks.replay_floor", "run", str(replay), spill=(replay / "replay.tmp",)
            )
            _check(m, "(r) replay floor (process)", notes)
            # the SQL's own time: the process also imports Python modules and sets up
            timings["replay_s"] = replay_floor.total_seconds(replay) if m.returncode == 0 else None
            rss["replay"], spill["replay"] = round(m.peak_rss_mb), round(m.peak_spill_mb, 1)
            values["replay"] = agreement.collect_duckdb(
                replay / replay_floor.DATABASE, schema=replay_floor.MARTS_SCHEMA
            )

        m, info = segmart_run(home)
        timings["overhead_s"] = _check(m, "fixed overhead (nothing new)", notes)
        phases["overhead"] = info["phases"] | {"status": info["status"]}

        m, info = segmart_run(home, force=True)
        timings["overhead_forced_s"] = _check(m, "nothing new, --force", notes)
        phases["overhead_forced"] = info["phases"] | {"status": info["status"]}

        land_new_day(new_day, home)
        m, info = segmart_run(home)
        timings["incremental_s"] = _check(m, "(e) incremental (one new day)", notes)
        phases["incremental"] = info["phases"] | {"status": info["status"]}
        rss["pipeline"] = max(rss["pipeline"], round(m.peak_rss_mb))

    if "replay" in steps and "pipeline" not in steps:
        notes.append("replay floor not measured: it replays the SQL on (a)'s raw layer")

    if "checks_off" in steps:
        home = fresh_home(work / "checks_off", base)
        m, info = segmart_run(home, no_checks=True)
        timings["checks_off_s"] = _check(m, "(d) pipeline, checks off", notes)
        rss["checks_off"] = round(m.peak_rss_mb)
        phases["checks_off"] = info["phases"] | {"status": info["status"]}

    reference = "pipeline" if "pipeline" in values else "floor"
    rows = landing_rows(base)
    result = {
        "scale": scale,
        "seed": seed,
        **timings,
        "peak_rss_mb": rss,
        "spill_mb": spill,
        "rows": rows,
        "rows_per_s": report.rows_per_s(rows, timings),
        "ratios": report.ratios(timings),
        "cores": os.cpu_count() or 1,
        "memory_gb": round(_memory_gb(), 1),
        "duckdb_memory_limit": _duckdb_memory_limit(),
        "commit": commit,
        "dirty_worktree": dirty,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_avg_start": round(load_start, 2),
        "load_avg_end": round(os.getloadavg()[0], 2),
        "phases": phases,
        "agreement": agreement.compare(values, reference=reference) if values else {},
        "new_day_files": json.loads((root / "split.json").read_text())["new_day"],
        "notes": notes,
    }
    result["goals"] = report.goals(result)
    return result


# --------------------------------------------------------------------------- environment


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def _duckdb_memory_limit() -> str:
    from pipelines.core.settings import load_config

    return os.environ.get(
        "SEGMART_DUCKDB_MEMORY_LIMIT", str(load_config().get("duckdb", {}).get("memory_limit"))
    )


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _commit() -> str:
    return _git("rev-parse", "--short=10", "HEAD") or "unknown"


def _dirty() -> bool:
    return bool(
        _git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "pipelines",
            "generator",
            "dbt_project",
        )
    )


def write_result(result: dict, results_dir: Path) -> Path:
    problems = report.validate(result)
    if problems:
        raise ValueError(f"result document is invalid: {problems}")
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"{stamp}_{result['commit']}_scale-{result['scale']:g}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (results_dir / "latest.md").write_text(
        "# Benchmark results (latest run of each scale)\n\n"
        "Generated by `make bench` (`python -m benchmarks.run`); see benchmarks/README.md.\n\n"
        + report.markdown(report.latest_per_scale(results_dir))
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10", help="comma-separated scales (default 1,10)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help=f"smoke run at scale {QUICK_SCALE}")
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"what to measure (default all: {','.join(STEPS)}; 'pipeline' includes the "
        "overhead and incremental runs)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    scales = [QUICK_SCALE] if args.quick else [float(s) for s in args.scales.split(",")]
    steps = tuple(s.strip() for s in args.steps.split(",") if s.strip())
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose from {STEPS}")
    ok = True
    for scale in scales:
        started = time.perf_counter()
        result = bench_scale(scale, args.seed, steps)
        if args.quick:
            result["notes"].append("--quick smoke run: tiny scale, timings are not meaningful")
        path = write_result(result, args.results_dir)
        log(f"scale {scale:g} done in {time.perf_counter() - started:.0f} s → {path}")
        ok = ok and bool(result["agreement"].get("ok"))
    print((args.results_dir / "latest.md").read_text())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
