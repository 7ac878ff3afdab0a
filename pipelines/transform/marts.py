"""Which dbt models are marts (published to serving and checked by GX mart suites)."""

from __future__ import annotations

import dagster as dg

MART_PREFIXES = ("dim_", "fct_", "kpi_")


def mart_asset_keys(dbt_assets: dg.AssetsDefinition) -> list[dg.AssetKey]:
    """Asset keys of the dbt models under models/marts whose names start dim_/fct_/kpi_."""
    keys = []
    for key in dbt_assets.keys:
        spec_group = dbt_assets.group_names_by_key.get(key, "")
        if spec_group.startswith("marts") and key.path[-1].startswith(MART_PREFIXES):
            keys.append(key)
    return sorted(keys, key=lambda k: k.to_user_string())
