"""Ingest speed on the demo landing, side by side in one process.

``--paths`` (issue 20.1): the whole :func:`pipelines.ingest.run_ingest` of the demo landing of
``--scale`` with every file read by the Python readers (``set_based=False``, the per-file
path) and with the set-based DuckDB scan (``set_based=True``), each into a fresh home,
alternating the order over ``--repeat`` rounds; prints seconds and rows/s of each, the rows
each path read (manifest ``read_by``), and checks that both produced the same row counts.
``--only GLOB`` restricts the landing to matching files (e.g. ``'crm/*'``); ``--flat-csv-mb N``
times one flat event CSV of about N MB (``benchmarks.ingest_memory.write_csv``) instead.

Without ``--paths``: per-line vs vectorised JSON-lines reader on the demo's GA4 export.
Generates the demo landing of ``--scale`` (cached in ``benchmarks/cache``, as
``benchmarks.run`` does) and reads every ``web/ga4/events_*.jsonl.gz`` file with both readers
in one process, alternating file by file (so that load from other processes hits both alike),
then prints rows/s of each and the ratio. ``--ingest`` also times the whole
:func:`pipelines.ingest.run_ingest` of the landing once with each reader (fresh homes).

    .venv/bin/python -m benchmarks.ingest_speed --scale 1 --paths
    .venv/bin/python -m benchmarks.ingest_speed --scale 0.1
    .venv/bin/python -m benchmarks.ingest_speed --scale 0.1 --ingest
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.run import ensure_dataset
from pipelines.ingest.readers import SourceFile

READERS = {"per-line": False, "vectorised": True}


def read_file(path: Path, vectorised: bool) -> int:
    rows = 0
    for chunk in SourceFile(path, vectorised_json=vectorised).chunks():
        rows += chunk.table.num_rows + len(chunk.malformed)
    return rows


def time_readers(files: list[Path]) -> dict[str, tuple[float, int]]:
    seconds = dict.fromkeys(READERS, 0.0)
    rows = dict.fromkeys(READERS, 0)
    for i, path in enumerate(files):
        order = list(READERS) if i % 2 == 0 else list(reversed(READERS))
        for name in order:
            start = time.perf_counter()
            rows[name] += read_file(path, READERS[name])
            seconds[name] += time.perf_counter() - start
    return {name: (seconds[name], rows[name]) for name in READERS}


def time_ingest(landing: Path, vectorised: bool) -> float:
    """One run_ingest of the whole landing into a fresh home, with the given reader."""
    from pipelines.ingest import run_ingest

    defaults = SourceFile.__init__.__kwdefaults__
    saved = dict(defaults)
    defaults["vectorised_json"] = vectorised  # the loader opens files with the default
    try:
        with tempfile.TemporaryDirectory(prefix="segmart-speed-") as tmp:
            home = Path(tmp)
            shutil.copytree(landing, home / "landing", copy_function=os.link)
            start = time.perf_counter()
            run_ingest(home)
            return time.perf_counter() - start
    finally:
        defaults.update(saved)


def flat_csv_landing(size_mb: float) -> Path:
    """A landing folder holding one flat event CSV of about ``size_mb`` MB (cached)."""
    from benchmarks.ingest_memory import write_csv
    from benchmarks.run import CACHE_DIR

    landing = CACHE_DIR / f"flat_csv_{size_mb:g}mb" / "landing"
    if not (landing / "events_export.csv").exists():
        landing.mkdir(parents=True, exist_ok=True)
        write_csv(landing / "events_export.csv", int(size_mb * 1024 * 1024))
    return landing


def time_paths(landing: Path, set_based: bool, only: str | None) -> dict:
    """One run_ingest of the landing (or its files matching ``only``) into a fresh home."""
    from pipelines.ingest import run_ingest

    with tempfile.TemporaryDirectory(prefix="segmart-speed-") as tmp:
        home = Path(tmp)
        for path in sorted(landing.rglob("*")):
            rel = path.relative_to(landing)
            if not path.is_file() or (only and not fnmatch.fnmatch(rel.as_posix(), only)):
                continue
            (home / "landing" / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(path, home / "landing" / rel)
        start = time.perf_counter()
        report = run_ingest(home, set_based=set_based)
        seconds = time.perf_counter() - start
    by = Counter()
    for f in report.files:
        by[f.read_by or "-"] += f.rows_read
    return {
        "seconds": seconds,
        "rows": sum(f.rows_read for f in report.files),
        "loaded": sum(f.rows_loaded for f in report.files),
        "quarantined": sum(f.rows_quarantined for f in report.files),
        "files": len(report.files),
        "read_by": dict(by),
    }


PATHS = {"per-file (python)": False, "set-based": True}


def compare_paths(landing: Path, repeat: int, only: str | None) -> None:
    runs: dict[str, list[dict]] = {name: [] for name in PATHS}
    for i in range(repeat):
        order = list(PATHS) if i % 2 == 0 else list(reversed(PATHS))
        for name in order:
            runs[name].append(time_paths(landing, PATHS[name], only))
    counts = {(r["rows"], r["loaded"], r["quarantined"]) for rs in runs.values() for r in rs}
    assert len(counts) == 1, f"the paths disagree on row counts: {runs}"
    rows, loaded, quarantined = counts.pop()
    print(
        f"{rows:,} rows ({loaded:,} loaded, {quarantined:,} quarantined) in "
        f"{runs['set-based'][0]['files']} files, load {load()}"
    )
    best = {}
    for name, rs in runs.items():
        best[name] = min(r["seconds"] for r in rs)
        times = ", ".join(f"{r['seconds']:.1f}" for r in rs)
        read_by = ", ".join(f"{k} {v:,}" for k, v in sorted(rs[0]["read_by"].items()))
        print(
            f"  {name:<18} best {best[name]:7.1f} s  {rows / best[name]:9,.0f} rows/s"
            f"  (runs: {times} s; rows read by {read_by})"
        )
    print(f"  set-based / per-file speed: {best['per-file (python)'] / best['set-based']:.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ingest", action="store_true", help="also time run_ingest")
    parser.add_argument("--paths", action="store_true", help="per-file vs set-based ingest")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", default=None, help="landing files matching this glob")
    parser.add_argument("--flat-csv-mb", type=float, default=None, help="one flat CSV instead")
    args = parser.parse_args(argv)
    if args.flat_csv_mb:
        compare_paths(flat_csv_landing(args.flat_csv_mb), args.repeat, None)
        return
    landing = ensure_dataset(args.scale, args.seed) / "landing"
    if args.paths:
        compare_paths(landing, args.repeat, args.only)
        return
    files = sorted(landing.glob("web/ga4/events_*.jsonl.gz"))
    read_file(files[0], True)  # imports and first-call costs out of the timings
    results = time_readers(files)
    rows = {r for _, r in results.values()}
    assert len(rows) == 1, f"the readers disagree on row counts: {results}"
    print(f"scale {args.scale:g}: {len(files)} GA4 files, {rows.pop():,} lines, load {load()}")
    for name, (seconds, n) in results.items():
        print(f"  {name:<11} {seconds:7.1f} s  {n / seconds:9,.0f} rows/s")
    ratio = results["per-line"][0] / results["vectorised"][0]
    print(f"  vectorised / per-line speed: {ratio:.1f}x")
    if args.ingest:
        for name, vectorised in READERS.items():
            print(f"  run_ingest, {name:<11} {time_ingest(landing, vectorised):7.1f} s")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
