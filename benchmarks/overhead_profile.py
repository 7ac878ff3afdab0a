"""Where a run with nothing new to load spends its time before any data is touched.

``python -m benchmarks.overhead_profile [--repeat N]`` times, each in a fresh interpreter
(cold imports, warm OS file cache): the interpreter alone, the heavy imports one by one, the
Dagster definitions load (which parses dbt only when its manifest is stale) and a warm
``dbt parse`` (partial parsing). Each probe also runs without compiled bytecode (no ``.pyc``
found: ``PYTHONPYCACHEPREFIX`` points at an empty directory), alternating with the normal run,
which shows what ``make venv``'s ``--compile-bytecode`` saves where PYTHONDONTWRITEBYTECODE is
set. Prints a Markdown table of medians; the findings are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT = Path(sys.executable).parent / "dbt"

# label → Python code run with `python -c` (great_expectations is imported from a file: a
# pyspark quirk makes `python -c "import great_expectations"` exit silently)
PROBES: dict[str, str] = {
    "python interpreter": "pass",
    "import duckdb": "import duckdb",
    "import pandas": "import pandas",
    "import dagster": "import dagster",
    "import dagster_dbt": "import dagster_dbt",
    "import great_expectations": "FILE:import great_expectations",
    "import pipelines.definitions": "import pipelines.definitions",
    "definitions load (defs())": (
        "from pipelines.definitions import defs; d = defs(); d.resolve_job_def('segmart_full')"
    ),
}


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=REPO_ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def probe(code: str, env: dict[str, str], tmp: Path) -> float:
    if code.startswith("FILE:"):
        script = tmp / "probe.py"
        script.write_text(code.removeprefix("FILE:"))
        return _time([sys.executable, str(script)], env)
    return _time([sys.executable, "-c", code], env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.setdefault("SEGMART_HOME", str(REPO_ROOT / "data"))
    tmp = REPO_ROOT / "benchmarks" / "cache"
    tmp.mkdir(parents=True, exist_ok=True)
    no_pyc = tmp / "no_pyc"  # stays empty: nothing is written with PYTHONDONTWRITEBYTECODE
    no_pyc.mkdir(exist_ok=True)
    env_no_pyc = env | {"PYTHONPYCACHEPREFIX": str(no_pyc), "PYTHONDONTWRITEBYTECODE": "1"}
    parse = [DBT, "parse", "--quiet", "--project-dir", "dbt_project", "--profiles-dir",
             "dbt_project"]  # fmt: skip
    probes = {label: lambda e, c=code: probe(c, e, tmp) for label, code in PROBES.items()}
    probes["dbt parse (partial parse warm)"] = lambda e: _time([str(c) for c in parse], e)
    print(
        f"| step (median of {args.repeat}, fresh interpreter each) | s | s without .pyc | ratio |"
    )
    print("|---|---:|---:|---:|")
    for label, run in probes.items():
        with_pyc, without = [], []
        for _ in range(args.repeat):  # alternate, so both see the same load
            with_pyc.append(run(env))
            without.append(run(env_no_pyc))
        a, b = statistics.median(with_pyc), statistics.median(without)
        print(f"| {label} | {a:.2f} | {b:.2f} | {b / a:.1f} |", flush=True)
    print(f"\nload average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
