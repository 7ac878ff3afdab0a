"""The dbt models that read the k-means tables: their own ``@dbt_assets`` (tag ``after_ml``).

Lineage dbt → Python → dbt: ``dim_accounts`` / ``dim_customers`` (``segmart_dbt``) →
``account_clusters`` / ``customer_clusters`` (pipelines/segments) → these models. Keeping them
out of ``segmart_dbt`` (which excludes ``tag:after_ml``) means no op-level cycle, so Dagster
never has to split the main dbt op into subsets to plan a run: a run is one ``dbt build`` for
the project and one for these models, whatever Python steps sit between (k-means, and any
step that follows the same pattern: its models tagged ``after_ml``).
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from pipelines.core.gate import UpstreamGate
from pipelines.core.resources import WAREHOUSE_POOL, SegmartHome
from pipelines.transform.dbt_assets import AFTER_ML_TAG, TRANSLATOR, incremental_build
from pipelines.transform.project import dbt_env, dbt_project, ensure_manifest


def build_dbt_cluster_assets(gate: UpstreamGate | None = None) -> dg.AssetsDefinition:
    gate = gate or UpstreamGate()
    project = dbt_project()
    manifest = ensure_manifest(project)

    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=TRANSLATOR,
        pool=WAREHOUSE_POOL,
        name="segmart_dbt_after_ml",
        select=f"tag:{AFTER_ML_TAG}",
    )
    def segmart_dbt_after_ml(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, segmart: SegmartHome
    ):
        """dbt build of the models downstream of the k-means assets (tests as asset checks);
        their incremental models (fct_attribution) decided and recorded apart."""
        dbt_env(segmart.paths)
        deps = context.assets_def.asset_deps
        upstream = {
            key for selected in context.selected_asset_keys for key in deps.get(selected, ())
        } - set(context.assets_def.keys)
        gate.enforce(context, upstream)
        yield from incremental_build(context, dbt, segmart, manifest, tag=AFTER_ML_TAG)

    return segmart_dbt_after_ml
