"""Ingest phase A/B: an older commit's ``run_ingest`` against today's, on the same landing.

Each variant runs ``pipelines.ingest.run_ingest`` of the demo landing of ``--scale`` (the
cached ``base`` landing of ``benchmarks.run``) into a fresh home (files hard-linked), in a
child process of this one so that each gets its own peak RSS (``wait4``); the variants
alternate over ``--repeat`` rounds so that load from other processes hits them alike. The
older commit's ``pipelines/`` and ``config/`` are extracted with ``git archive`` into a temporary folder and put
first on the child's ``PYTHONPATH`` (same virtualenv). Row counts must agree.

Variants: ``<commit>`` (default 2141470, before set-based JSON lines) and ``now`` (JSON lines
read by the vectorised Python reader, opened ahead on two threads). The opt-in set-based JSON
path (``json_set_based=True``) was removed after it measured slower (136 s vs 103 s,
``results/ingest_ab_scale_1.json``).

    .venv/bin/python -m benchmarks.ingest_ab --scale 1 --repeat 1 --out benchmarks/results/...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from benchmarks.run import ensure_dataset

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, os, sys, time
from collections import Counter
from pathlib import Path
from pipelines.ingest import run_ingest
landing, home = Path(sys.argv[1]), Path(sys.argv[2])
for path in sorted(landing.rglob("*")):
    if path.is_file() and not path.name.startswith("_"):
        target = home / "landing" / path.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
start = time.perf_counter()
report = run_ingest(home)
seconds = time.perf_counter() - start
by = Counter()
for f in report.files:
    by[getattr(f, "read_by", "") or "-"] += f.rows_read
print(json.dumps({
    "seconds": round(seconds, 2),
    "rows": sum(f.rows_read for f in report.files),
    "loaded": sum(f.rows_loaded for f in report.files),
    "quarantined": sum(f.rows_quarantined for f in report.files),
    "files": len(report.files),
    "rows_read_by": dict(by),
}))
"""


def extract(commit: str, into: Path) -> Path:
    """``pipelines/`` and ``config/`` of ``commit`` under ``into`` (the PYTHONPATH entry)."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", commit, "pipelines", "config"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_variant(landing: Path, pythonpath: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="segmart-ingest-ab-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
        args = [sys.executable, "-c", CHILD, str(landing), tmp]
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=tmp, env=env, stdout=subprocess.PIPE)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            raise RuntimeError(f"variant failed (status {status}): {out[-2000:]!r}")
        result = json.loads(out.decode().strip().splitlines()[-1])
        result["process_s"] = round(wall, 2)
        result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux: kB
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--commit", default="2141470")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    landing = ensure_dataset(args.scale, args.seed) / "base"
    with tempfile.TemporaryDirectory(prefix="segmart-ab-tree-") as tree:
        variants = {
            args.commit: extract(args.commit, Path(tree)),
            "now": ROOT,
        }
        runs: dict[str, list[dict]] = {name: [] for name in variants}
        loads = []
        for i in range(args.repeat):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                loads.append(os.getloadavg()[0])
                result = run_variant(landing, variants[name])
                runs[name].append(result)
                print(f"{name:<10} {result}", flush=True)
    counts = {(r["rows"], r["loaded"], r["quarantined"]) for rs in runs.values() for r in rs}
    assert len(counts) == 1, f"the variants disagree on row counts: {runs}"
    best = {name: min(r["seconds"] for r in rs) for name, rs in runs.items()}
    summary = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "seed": args.seed,
        "landing": f"benchmarks/cache/scale_{args.scale:g}_seed_{args.seed}/base",
        "cores": os.cpu_count(),
        "load_1min_at_starts": [round(x, 1) for x in loads],
        "rows": counts.pop()[0],
        "runs": runs,
        "best_seconds": best,
        "speedup_vs_" + args.commit: {
            name: round(best[args.commit] / s, 2) for name, s in best.items()
        },
        "peak_rss_mb_max": {n: max(r["peak_rss_mb"] for r in rs) for n, rs in runs.items()},
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
