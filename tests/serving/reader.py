"""A BI-like reader in its own process: reads the serving file until told to stop.

Usage: python reader.py DB STOP_FILE {hold|reopen}. Prints one JSON line per read:
``{"versions": [...], "kpi_versions": [...], "rows": n}`` or ``{"error": "..."}``; prints
``ready`` after the first successful read.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

QUERY = """
select (select list(distinct version order by version) from dim_customers),
       (select list(distinct version order by version) from kpi_channel_monthly),
       (select count(*) from dim_customers)
"""


def main(db: str, stop_file: str, mode: str) -> None:
    con = duckdb.connect(db, read_only=True) if mode == "hold" else None
    announced = False
    while not Path(stop_file).exists():
        try:
            c = con or duckdb.connect(db, read_only=True)
            try:
                versions, kpi_versions, rows = c.execute(QUERY).fetchone()
            finally:
                if con is None:
                    c.close()
            print(json.dumps({"versions": versions, "kpi_versions": kpi_versions, "rows": rows}))
        except Exception as exc:  # the test asserts there are none
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        if not announced:
            print("ready", flush=True)
            announced = True
        sys.stdout.flush()
        time.sleep(0.005)


if __name__ == "__main__":
    main(*sys.argv[1:4])
