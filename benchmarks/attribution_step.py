"""How long the data-driven attribution step (pipelines/attribution) takes on a built home.

    python -m benchmarks.attribution_step --home PATH [--order 1] [--repeat 3]

The home must have been run once (`segmart run`), so that marts.fct_conversions and
marts.fct_touchpoints exist. Each repeat runs what the Dagster asset runs — read and
aggregate the journeys (DuckDB), fit Markov and Shapley per conversion type (numpy/pandas),
write ml.attribution_channel_credits — and prints the seconds of each phase. The issue's
budget: under 30 s at scale 1.

Measured 2026-12-03 on the 2-core machine shared by several sessions (load average ~20), demo
scale 1 seed 11 (121,579 conversions, 207,265 touchpoints, 646,755 journey touches over the
three conversion types): read 4.8-5.1 s, fit 1.3-1.4 s, write 0.9-1.0 s, total 7.2-7.3 s
(Markov order 1; order 3: fit 2.8 s, total 8.8 s). fct_attribution with the two models: +2-4 s.
"""

from __future__ import annotations

import argparse
import json
import time

from pipelines.attribution.config import AttributionSpec
from pipelines.attribution.models import fit
from pipelines.attribution.warehouse import connect, read_journeys, write_credits
from pipelines.core.settings import home_paths, load_config


def measure(home: str, order: int) -> dict:
    config = load_config(home)
    with connect(home_paths(home).warehouse, config.get("duckdb")) as con:
        started = time.perf_counter()
        journeys = read_journeys(con)
        read = time.perf_counter()
        result = fit(journeys, AttributionSpec(markov_order=order))
        fitted = time.perf_counter()
        _, rows = write_credits(con, result.credits)
        written = time.perf_counter()
        conversions, touches = con.execute(
            "select (select count(*) from marts.fct_conversions), "
            "(select count(*) from marts.fct_touchpoints)"
        ).fetchone()
    return {
        "conversions": conversions,
        "touchpoints": touches,
        "touches": int(sum(len(j.channel) for j in journeys.values())),
        "credit_rows": rows,
        "markov_order": order,
        "read_s": round(read - started, 2),
        "fit_s": round(fitted - read, 2),
        "write_s": round(written - fitted, 2),
        "total_s": round(written - started, 2),
        "by_conversion_type": result.summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--order", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.repeat):
        print(json.dumps(measure(args.home, args.order)))


if __name__ == "__main__":
    main()
