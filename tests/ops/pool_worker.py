"""One run of a warehouse-writing asset, started as its own process by test_warehouse_pool.py.

Usage: python pool_worker.py DAGSTER_HOME DUCKDB_FILE LABEL. The asset holds a write
connection on the DuckDB file for a while, as a dbt build does: a second process writing the
file at the same time would fail on DuckDB's file lock unless the pool serialises the steps.
"""

import sys
import time

import dagster as dg
import duckdb

POOL = "duckdb_warehouse"  # pipelines.core.resources.WAREHOUSE_POOL (kept standalone on purpose)
HOLD_SECONDS = 1.5


def main(dagster_home: str, database: str, label: str) -> int:
    @dg.asset(pool=POOL, name=f"write_{label}")
    def write_warehouse() -> None:
        with duckdb.connect(database) as con:
            started = time.time()
            con.execute(
                "create table if not exists writes (label varchar, started double, ended double)"
            )
            time.sleep(HOLD_SECONDS)
            con.execute("insert into writes values (?, ?, ?)", [label, started, time.time()])

    instance = dg.DagsterInstance.from_config(dagster_home)
    try:
        result = dg.materialize([write_warehouse], instance=instance, raise_on_error=False)
    finally:
        instance.dispose()
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
