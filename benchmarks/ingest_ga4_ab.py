"""GA4 JSON lines ingest A/B (issue 20.1): the Python reader against DuckDB's ``read_json``.

Every variant runs :func:`pipelines.ingest.run_ingest` of the cached GA4 landing files
(``benchmarks/cache/scale_<S>_seed_42/landing/web/ga4``, hard-linked into a fresh home) in a
child process of this one, so that each gets its own peak RSS (``wait4``); the variants
alternate over ``--repeat`` rounds so that load from other processes hits them alike.

Variants:

* ``python``: the default (``json_set_based=False``) — every file read by the vectorised Python reader
  (``pyarrow.json`` + Arrow pivot), opened ahead on two threads (``loader.ReadAhead``): the
  GA4 path before the DuckDB one;
* ``duckdb``: ``json_set_based=True`` — GA4 files read by one ``read_json`` per group
  (``setjson.py``);
* ``python-no-ahead`` / ``duckdb-no-ahead`` (``--read-ahead``): the same with
  ``READ_AHEAD_FILES = 0``, the read-ahead decision.

Row counts (read, loaded, quarantined) must agree between the variants.

    .venv/bin/python -m benchmarks.ingest_ga4_ab --scale 1 --repeat 2 --read-ahead
    .venv/bin/python -m benchmarks.ingest_ga4_ab --scale 10 --repeat 1 --variants duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "cache"
CHILD = """
import json, os, sys, time
from collections import Counter
from pathlib import Path
from pipelines.ingest import loader, run_ingest
landing, home, set_based, ahead = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
if ahead == "0":
    loader.READ_AHEAD_FILES = 0
for path in sorted(landing.rglob("*")):
    if path.is_file():
        target = home / "landing" / "web" / "ga4" / path.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
start = time.perf_counter()
report = run_ingest(home, json_set_based=set_based == "1")
seconds = time.perf_counter() - start
by = Counter()
for f in report.files:
    by[f.read_by or "-"] += f.rows_read
print(json.dumps({
    "seconds": round(seconds, 2),
    "rows": sum(f.rows_read for f in report.files),
    "loaded": sum(f.rows_loaded for f in report.files),
    "quarantined": sum(f.rows_quarantined for f in report.files),
    "files": len(report.files),
    "rows_read_by": dict(by),
}))
"""
VARIANTS = {
    "python": ("0", "4"),
    "duckdb": ("1", "4"),
    "python-no-ahead": ("0", "0"),
    "duckdb-no-ahead": ("1", "0"),
}


def run_variant(landing: Path, name: str) -> dict:
    set_based, ahead = VARIANTS[name]
    with tempfile.TemporaryDirectory(prefix="ga4_ab_", dir=CACHE) as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(landing), tmp, set_based, ahead],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{name} failed ({proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024)  # KiB on Linux
    result["rows_per_s"] = round(result["rows"] / result["seconds"])
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="1")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--variants", default="python,duckdb")
    ap.add_argument("--read-ahead", action="store_true", help="add the *-no-ahead variants")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    landing = CACHE / f"scale_{args.scale}_seed_42" / "landing" / "web" / "ga4"
    if not landing.is_dir():
        raise SystemExit(f"{landing} is missing: run python -m benchmarks.run first")
    names = args.variants.split(",")
    if args.read_ahead:
        names += [f"{n}-no-ahead" for n in names if f"{n}-no-ahead" in VARIANTS]
    load = [round(x, 2) for x in os.getloadavg()]
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.repeat):
        for name in names if r % 2 == 0 else list(reversed(names)):
            result = run_variant(landing, name)
            runs[name].append(result)
            print(name, json.dumps(result), flush=True)
    counts = {n: {(x["rows"], x["loaded"], x["quarantined"]) for x in rs} for n, rs in runs.items()}
    if len(set().union(*counts.values())) != 1:
        raise SystemExit(f"row counts differ: {counts}")
    summary = {
        n: {
            "best_seconds": min(x["seconds"] for x in rs),
            "best_rows_per_s": max(x["rows_per_s"] for x in rs),
            "peak_rss_mb": max(x["peak_rss_mb"] for x in rs),
        }
        for n, rs in runs.items()
    }
    doc = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "files": len(list(landing.glob("*"))),
        "load_at_start": load,
        "load_at_end": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
        "summary": summary,
    }
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
