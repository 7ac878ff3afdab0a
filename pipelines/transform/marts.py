"""Which dbt models are marts (published to serving and checked by GX mart suites)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

MART_PREFIXES = ("dim_", "fct_", "kpi_")


def mart_asset_keys(
    dbt_assets: dg.AssetsDefinition | Sequence[dg.AssetsDefinition],
) -> list[dg.AssetKey]:
    """Asset keys of the dbt models under models/marts whose names start dim_/fct_/kpi_."""
    definitions = [dbt_assets] if isinstance(dbt_assets, dg.AssetsDefinition) else dbt_assets
    keys = []
    for assets_def in definitions:
        for key in assets_def.keys:
            spec_group = assets_def.group_names_by_key.get(key, "")
            if spec_group.startswith("marts") and key.path[-1].startswith(MART_PREFIXES):
                keys.append(key)
    return sorted(keys, key=lambda k: k.to_user_string())
