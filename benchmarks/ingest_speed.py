"""Per-line vs vectorised JSON-lines reader on the demo's GA4 export, side by side.

Generates the demo landing of ``--scale`` (cached in ``benchmarks/cache``, as
``benchmarks.run`` does) and reads every ``web/ga4/events_*.jsonl.gz`` file with both readers
in one process, alternating file by file (so that load from other processes hits both alike),
then prints rows/s of each and the ratio. ``--ingest`` also times the whole
:func:`pipelines.ingest.run_ingest` of the landing once with each reader (fresh homes).

    .venv/bin/python -m benchmarks.ingest_speed --scale 0.1
    .venv/bin/python -m benchmarks.ingest_speed --scale 0.1 --ingest
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ingest", action="store_true", help="also time run_ingest")
    args = parser.parse_args(argv)
    landing = ensure_dataset(args.scale, args.seed) / "landing"
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
