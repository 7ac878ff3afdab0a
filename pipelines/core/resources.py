"""Dagster resources shared by every domain: where the segmart home is."""

from __future__ import annotations

import dagster as dg

from pipelines.core.settings import HomePaths, home_paths, load_config

# Every asset that writes the DuckDB warehouse runs in this pool (one writer at a time).
WAREHOUSE_POOL = "duckdb_warehouse"


class SegmartHome(dg.ConfigurableResource):
    """The segmart home directory (landing, raw, quarantine, warehouse, serving).

    Configured from ``SEGMART_HOME`` (default ``./data``); the same variable feeds dbt's
    ``profiles.yml``.
    """

    home: str = "data"

    @property
    def paths(self) -> HomePaths:
        return home_paths(self.home).ensure()

    def config(self) -> dict:
        return load_config(self.home)
