"""One ``@dbt_assets`` running ``dbt build``: models become assets, dbt tests asset checks."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from pipelines.quality.gate import enforce_upstream_checks
from pipelines.resources import WAREHOUSE_POOL, SegmartHome
from pipelines.transform.project import dbt_env, dbt_project, dbt_vars, ensure_manifest


class SegmartDbtTranslator(DagsterDbtTranslator):
    """Derives, never names: group from the model's folder, owners from ``meta.owner``."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """Models and seeds by name (``dim_accounts``); sources as ``<source>/<table>``."""
        if dbt_resource_props.get("resource_type") in ("model", "seed", "snapshot"):
            return dg.AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        folders = fqn[1:-1]
        if dbt_resource_props.get("resource_type") == "seed":
            return "reference"
        if not folders:
            return "dbt"
        return "_".join(folders[:2])

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        meta = dbt_resource_props.get("config", {}).get("meta", {}) or dbt_resource_props.get(
            "meta", {}
        )
        owner = meta.get("owner")
        return [owner] if owner else []

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        return {"layer": (dbt_resource_props.get("fqn") or ["", "dbt"])[1]}


TRANSLATOR = SegmartDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_code_references=True, enable_asset_checks=True)
)


def build_dbt_assets() -> dg.AssetsDefinition:
    project = dbt_project()
    manifest = ensure_manifest(project)

    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=TRANSLATOR,
        pool=WAREHOUSE_POOL,
        name="segmart_dbt",
    )
    def segmart_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, segmart: SegmartHome):
        """dbt build of staging, intermediate and marts (tests run as asset checks)."""
        dbt_env(segmart.paths)
        deps = context.assets_def.asset_deps
        upstream = {
            key for selected in context.selected_asset_keys for key in deps.get(selected, ())
        } - set(context.assets_def.keys)
        enforce_upstream_checks(context, upstream)
        args = ["build", "--vars", dbt_vars(segmart.home)]
        yield from dbt.cli(args, context=context).stream()

    return segmart_dbt
