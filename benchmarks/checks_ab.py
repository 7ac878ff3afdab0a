"""The checks phase side by side: raw suites on pandas chunks vs one DuckDB aggregate per table.

    python -m benchmarks.checks_ab HOME [--repeat N]

``HOME`` is a segmart home after a run (``raw/`` and, for the mart suites and the
reconciliations, the warehouse), e.g. the pipeline home ``make bench`` leaves at scale 1. In
one process, every raw suite (as on a first load: every raw file's rows) and mart suite is
validated with
``row_engine="pandas"`` and ``row_engine="duckdb"`` alternately (best of ``--repeat``), the
outcomes compared (success, element / unexpected / missing counts), and the reconciliations
timed. Prints a markdown table; nothing is written to the home.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from pipelines.core.contract import DUCKDB_TYPES, entities, lineage_columns
from pipelines.core.settings import home_paths
from pipelines.quality import reconcile
from pipelines.quality.engine import GxRunner
from pipelines.quality.runner import run_suite
from pipelines.quality.sources import raw_source, warehouse_source
from pipelines.quality.suites import available_suites, load_suite


def _counts(run) -> list[tuple]:
    return [
        (o.expectation.label, o.success, o.element_count, o.unexpected_count, o.missing_count)
        for o in run.outcomes
    ]


def _runner() -> GxRunner:
    runner = GxRunner()
    runner.validate(pd.DataFrame({"x": [1]}), [], {}, [])  # GX imported and set up untimed
    return runner


def raw_checks(home: Path, repeat: int) -> list[dict]:
    runner = _runner()
    rows = []
    for entity in sorted(entities()):
        if not any((home / "raw" / entity).glob("*.parquet")):
            continue
        ent = entities()[entity]
        expected = {c.name: DUCKDB_TYPES[c.type] for c in ent.columns}
        expected |= {n: DUCKDB_TYPES[t] for n, t in lineage_columns().items()}
        pii = {c.name for c in ent.columns if c.pii}
        suite = load_suite("raw", entity)
        best: dict[str, float] = {}
        runs = {}
        for _ in range(repeat):
            for row_engine in ("pandas", "duckdb"):
                start = time.perf_counter()
                with raw_source(home / "raw", entity, expected) as source:
                    runs[row_engine] = run_suite(
                        suite, source, pii=pii, runner=runner, row_engine=row_engine
                    )
                took = time.perf_counter() - start
                best[row_engine] = min(best.get(row_engine, took), took)
        rows.append(
            {
                "entity": entity,
                "rows": runs["duckdb"].row_count,
                "pandas_s": best["pandas"],
                "duckdb_s": best["duckdb"],
                "same": _counts(runs["pandas"]) == _counts(runs["duckdb"]),
            }
        )
    return rows


def mart_checks(home: Path, repeat: int) -> list[dict]:
    """The mart suites over the warehouse, both engines (needs_inputs not applied)."""
    paths = home_paths(home)
    if not paths.warehouse.exists():
        return []
    runner = _runner()
    rows = []
    for mart in available_suites("mart"):
        suite = load_suite("mart", mart)
        pii = set(suite.meta.get("pii") or [])
        best: dict[str, float] = {}
        runs = {}
        for _ in range(repeat):
            for row_engine in ("pandas", "duckdb"):
                start = time.perf_counter()
                with warehouse_source(paths.warehouse, "marts", mart) as source:
                    runs[row_engine] = run_suite(
                        suite, source, pii=pii, runner=runner, row_engine=row_engine
                    )
                took = time.perf_counter() - start
                best[row_engine] = min(best.get(row_engine, took), took)
        rows.append(
            {
                "entity": f"mart {mart}",
                "rows": runs["duckdb"].row_count,
                "pandas_s": best["pandas"],
                "duckdb_s": best["duckdb"],
                "same": _counts(runs["pandas"]) == _counts(runs["duckdb"]),
            }
        )
    return rows


def reconciliations(home: Path) -> list[tuple[str, float]]:
    paths = home_paths(home)
    if not paths.warehouse.exists():
        return []
    out = []
    for name, ent in sorted(entities().items()):
        start = time.perf_counter()
        reconcile.landing_to_raw(paths, name)
        out.append((f"landing_to_raw {ent.name}", time.perf_counter() - start))
    for name in sorted(reconcile.STAGING):
        start = time.perf_counter()
        reconcile.raw_to_staging(paths, name)
        out.append((f"raw_to_staging {name}", time.perf_counter() - start))
    for label, compute in (
        ("orders_to_fct", reconcile.orders_to_fct),
        ("opportunities_to_fct", reconcile.opportunities_to_fct),
        ("leads_to_fct", reconcile.leads_to_fct),
        ("spend_raw_to_fct", reconcile.spend_raw_to_fct),
    ):
        start = time.perf_counter()
        compute(paths)
        out.append((label, time.perf_counter() - start))
    for kpi in reconcile.KPI_GRAIN:
        start = time.perf_counter()
        reconcile.spend_fct_to_kpi(paths, kpi)
        out.append((f"spend_fct_to_kpi {kpi}", time.perf_counter() - start))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rows = raw_checks(args.home, args.repeat) + mart_checks(args.home, args.repeat)
    print("| suite | rows | pandas chunks, s | DuckDB aggregate, s | same outcomes |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['entity']} | {r['rows']:,} | {r['pandas_s']:.2f} | {r['duckdb_s']:.2f} "
            f"| {'yes' if r['same'] else 'NO'} |"
        )
    total_p, total_d = sum(r["pandas_s"] for r in rows), sum(r["duckdb_s"] for r in rows)
    print(f"| **all** | {sum(r['rows'] for r in rows):,} | {total_p:.2f} | {total_d:.2f} | |")
    recs = reconciliations(args.home)
    if recs:
        print("\n| reconciliation | s |\n|---|---:|")
        for label, seconds in recs:
            print(f"| {label} | {seconds:.2f} |")
        print(f"| **all** | {sum(s for _, s in recs):.2f} |")


if __name__ == "__main__":
    main()
