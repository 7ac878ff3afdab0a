"""The CLV fit before / after the weighted likelihoods, and the Python model steps with inputs
unchanged (kept) vs refitted, side by side in one process.

``python -m benchmarks.ml_clv_ab --home HOME [--baseline REV] [--repeat N] [--out FILE]``

HOME is a home a ``segmart run`` finished in (e.g. benchmarks/cache/scale_1_seed_42/runs/
pipeline); it is never modified.

1. **fit**: ``run_clv`` (both fits, predictions, holdout) of commit REV (default 76b5183^,
   the Nelder-Mead fit over every customer) and of this checkout, alternating on the same
   purchases read from HOME's warehouse (read-only); the parameters of both fits compared
   (max relative difference) and the predictions per customer.
2. **steps**: the warehouse copied to a temporary home; each asset (customer_clv,
   account_clusters, customer_clusters, attribution_channel_credits) materialized with
   ``dagster.materialize`` alternately after deleting its stored signature (a refit, as before
   this change) and again right after (inputs unchanged: kept); wall seconds of each.

Wall seconds per variant (median over ``--repeat``), the load average at start and end go to a
JSON file under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np

from pipelines.attribution.assets import build_attribution_asset
from pipelines.clv import predict as new_predict
from pipelines.clv.assets import build_clv_asset
from pipelines.clv.config import clv_spec
from pipelines.clv.warehouse import read_purchases
from pipelines.core.resources import SegmartHome
from pipelines.core.settings import load_config
from pipelines.core.signatures import SIGNATURES_TABLE
from pipelines.segments.assets import build_cluster_asset

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_BASELINE = "76b5183^"
STEPS = {
    "customer_clv": lambda: build_clv_asset(),
    "account_clusters": lambda: build_cluster_asset("accounts"),
    "customer_clusters": lambda: build_cluster_asset("customers"),
    "attribution_channel_credits": lambda: build_attribution_asset(),
}


def _old_clv(revision: str) -> types.ModuleType:
    """pipelines/clv/predict.py of ``revision`` with the models.py of the same revision,
    loaded as modules ``clv_baseline.models`` / ``clv_baseline.predict`` (config and summary
    are today's: unchanged since)."""
    package = types.ModuleType("clv_baseline")
    package.__path__ = []
    sys.modules["clv_baseline"] = package
    for name in ("models", "predict"):
        source = subprocess.run(
            ["git", "show", f"{revision}:pipelines/clv/{name}.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.replace("from pipelines.clv.models import", "from clv_baseline.models import")
        module = types.ModuleType(f"clv_baseline.{name}")
        sys.modules[module.__name__] = module
        exec(compile(source, f"{revision}:pipelines/clv/{name}.py", "exec"), module.__dict__)
    return sys.modules["clv_baseline.predict"]


def _timed(work):
    started = time.perf_counter()
    out = work()
    return time.perf_counter() - started, out


def _params(run) -> dict[str, float]:
    fits = run.fits.set_index("fit_name")
    columns = ["r", "alpha", "a", "b", "p", "q", "gamma"]
    return {f"{f}.{c}": float(fits.loc[f, c]) for f in fits.index for c in columns}


def fit_ab(home: Path, revision: str, repeat: int) -> dict:
    old_predict = _old_clv(revision)
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        purchases, as_of = read_purchases(con)
    spec = clv_spec(load_config(home))
    seconds = {"old": [], "new": []}
    runs = {}
    for _ in range(repeat):
        for name, module in (("old", old_predict), ("new", new_predict)):
            wall, runs[name] = _timed(lambda m=module: m.run_clv(purchases, as_of, spec))
            seconds[name].append(round(wall, 3))
    old, new = _params(runs["old"]), _params(runs["new"])
    relative = {k: abs(new[k] - old[k]) / abs(old[k]) for k in old}
    columns = ["probability_alive", "expected_purchases_365d", "predicted_clv_12m"]
    a, b = runs["old"].customers, runs["new"].customers
    prediction_rel = {
        c: float(np.nanmax(np.abs(b[c] - a[c]) / np.maximum(np.abs(a[c]), 1e-12))) for c in columns
    }
    return {
        "customers": int(len(a)),
        "purchases": int(len(purchases)),
        "seconds": seconds,
        "median_s": {k: statistics.median(v) for k, v in seconds.items()},
        "max_relative_param_difference": max(relative.values()),
        "relative_param_difference": relative,
        "max_relative_prediction_difference": prediction_rel,
        "statuses_equal": bool(
            a["clv_status"].equals(b["clv_status"])
            and runs["old"].fits["status"].equals(runs["new"].fits["status"])
        ),
        "tiers_equal_share": float((a["clv_tier"] == b["clv_tier"]).mean()),
    }


def _materialize(asset, home: Path) -> tuple[float, str]:
    with dg.DagsterInstance.ephemeral() as instance:
        wall, result = _timed(
            lambda: dg.materialize(
                [asset], instance=instance, resources={"segmart": SegmartHome(home=str(home))}
            )
        )
    outcomes = {
        str(e.event_specific_data.materialization.metadata["result"].value)
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    return wall, ",".join(sorted(outcomes))


def _forget_signature(warehouse: str, step: str) -> None:
    """Delete the step's stored signature (its next run refits, as every run did before)."""
    with duckdb.connect(warehouse) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'ml' and table_name = ?",
            [SIGNATURES_TABLE],
        ).fetchone()[0]
        if exists:
            con.execute(f"delete from ml.{SIGNATURES_TABLE} where step = ?", [step])


def steps_ab(home: Path, repeat: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(prefix="ml_ab_", dir=os.environ.get("TMPDIR")) as tmp:
        work = Path(tmp)
        (work / "warehouse").mkdir()
        shutil.copy(home / "warehouse" / "segmart.duckdb", work / "warehouse" / "segmart.duckdb")
        warehouse = str(work / "warehouse" / "segmart.duckdb")
        for step, build in STEPS.items():
            asset = build()
            seconds = {"refit": [], "kept": []}
            outcomes = {"refit": set(), "kept": set()}
            for _ in range(repeat):
                _forget_signature(warehouse, step)
                for variant in ("refit", "kept"):
                    wall, outcome = _materialize(asset, work)
                    seconds[variant].append(round(wall, 3))
                    outcomes[variant].add(outcome)
            out[step] = {
                "seconds": seconds,
                "median_s": {k: statistics.median(v) for k, v in seconds.items()},
                "results": {k: sorted(v) for k, v in outcomes.items()},
            }
    return out


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps-repeat", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    result = {
        "home": str(args.home),
        "commit": commit,
        "baseline": args.baseline,
        "cores": os.cpu_count(),
        "load_avg_start": [round(v, 2) for v in load_start],
        "fit": fit_ab(args.home, args.baseline, args.repeat),
        "steps": steps_ab(args.home, args.steps_repeat),
        "load_avg_end": [round(v, 2) for v in os.getloadavg()],
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"ml_clv_ab_{stamp}_{commit}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))
    return out


if __name__ == "__main__":
    main()
