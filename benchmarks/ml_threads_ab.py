"""The ML steps' Python work with scikit-learn's default thread pools vs one thread.

``python -m benchmarks.ml_threads_ab --home HOME [--repeat N] [--out FILE]`` reads the features
of the cluster steps (``marts.dim_accounts``, ``marts.dim_customers``) and the CLV purchases from
the warehouse of a home a ``segmart run`` finished in (opened read-only), then times, in this one
process and alternating so both see the same machine load: ``fit_clusters`` with
``FIT_THREADS = None`` (no limit: scikit-learn's one OpenMP thread per core, what ran before) and
with ``FIT_THREADS = 1`` (pipelines/segments/kmeans.py), and ``run_clv`` under the same two
limits (threadpoolctl). Each pair must give equal results (assignments, profile, k, silhouettes;
CLV tables). Wall and CPU seconds per variant and the load average go to a JSON file under
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
from threadpoolctl import threadpool_info, threadpool_limits

from pipelines.clv.config import clv_spec
from pipelines.clv.predict import run_clv
from pipelines.clv.warehouse import read_purchases
from pipelines.core.settings import load_config
from pipelines.segments import kmeans
from pipelines.segments.config import cluster_spec
from pipelines.segments.warehouse import read_features

RESULTS = Path(__file__).resolve().parent / "results"


def _timed(work) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _cluster_variant(frame: pd.DataFrame, spec, threads: int | None):
    kmeans.FIT_THREADS = threads
    return kmeans.fit_clusters(frame, spec)


def _same_fit(a, b) -> None:
    pd.testing.assert_frame_equal(a.assignments, b.assignments)
    pd.testing.assert_frame_equal(a.profile, b.profile)
    assert (a.k, a.silhouette, a.silhouette_by_k) == (b.k, b.silhouette, b.silhouette_by_k)


def _clv_variant(purchases, as_of, spec, threads: int | None):
    with threadpool_limits(limits=threads):
        return run_clv(purchases, as_of, spec)


def _same_clv(a, b) -> None:
    for name in ("customers", "holdout", "fits"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    config = load_config(args.home)
    con = duckdb.connect(str(args.home / "warehouse" / "segmart.duckdb"), read_only=True)
    inputs = {}
    for entity in ("accounts", "customers"):
        spec = cluster_spec(config, entity)
        inputs[f"clusters_{entity}"] = (
            _cluster_variant,
            _same_fit,
            (read_features(con, spec), spec),
        )
    purchases, as_of = read_purchases(con)
    as_of = as_of if as_of is not None else "1970-01-01"  # as pipelines/clv/assets.py
    inputs["clv"] = (_clv_variant, _same_clv, (purchases, as_of, clv_spec(config)))
    con.close()
    kmeans.fit_clusters(*inputs["clusters_accounts"][2])  # imports (scikit-learn) out of the timing
    default_pools = sorted({p["num_threads"] for p in threadpool_info()})
    load_start = os.getloadavg()[0]
    steps: dict[str, dict] = {}
    for name, (variant, same, data) in inputs.items():
        times: dict[str, list] = {"default_pools": [], "one_thread": []}
        for _ in range(args.repeat):  # alternating: both variants see the same load
            wall_d, cpu_d, before = _timed(lambda v=variant, d=data: v(*d, None))
            wall_1, cpu_1, after = _timed(lambda v=variant, d=data: v(*d, 1))
            same(before, after)
            times["default_pools"].append((round(wall_d, 3), round(cpu_d, 3)))
            times["one_thread"].append((round(wall_1, 3), round(cpu_1, 3)))
        steps[name] = {
            "rows": len(data[0]),
            "results_equal": True,
            **{f"{k}_wall_cpu_s": v for k, v in times.items()},
            **{
                f"{k}_median_wall_s": round(statistics.median(w for w, _ in v), 3)
                for k, v in times.items()
            },
        }
        print(name, json.dumps(steps[name]), flush=True)
    result = {
        "what": "ML steps' Python work: scikit-learn default thread pools vs one thread "
        "(benchmarks/ml_threads_ab.py), same process, alternating",
        "home": str(args.home),
        "timestamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "cores": os.cpu_count(),
        "default_pool_threads": default_pools,
        "load_avg_start": round(load_start, 2),
        "load_avg_end": round(os.getloadavg()[0], 2),
        "repeat": args.repeat,
        "steps": steps,
    }
    out = args.out or RESULTS / f"{result['timestamp']}_ml_threads_ab.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
