"""``@dbt_assets`` running ``dbt build``: models become assets, dbt tests asset checks."""

import os
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
from pipelines.transform.catchup import FULL_REFRESH_TAG
from pipelines.transform.partitions import (
    PARTITIONED_TAG,
    WINDOW_ENV,
    Window,
    daily_partitions,
    partition_settings,
    window_for,
)
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


def _upstream_of_selection(context: dg.AssetExecutionContext) -> set[dg.AssetKey]:
    deps = context.assets_def.asset_deps
    return {
        key for selected in context.selected_asset_keys for key in deps.get(selected, ())
    } - set(context.assets_def.keys)


def build_dbt_assets() -> list[dg.AssetsDefinition]:
    """The dbt project as three ``@dbt_assets``: what the daily models read, the daily
    models, everything else.

    The models tagged ``daily_partitioned`` (pipelines/transform/partitions.py) run with the
    partition range's window; a backfill of a date range is one run (single-run backfill
    policy, one ``dbt build`` over the whole window). Every other model is unpartitioned; those
    after the daily models depend on all their partitions. Splitting the unpartitioned models
    at the daily ones keeps the ops free of cycles, so Dagster never cuts an op into pieces
    (a piece of seeds alone would run before the raw layer's blocking checks).
    """
    project = dbt_project()
    manifest = ensure_manifest(project)
    settings = partition_settings()
    partitions_def = daily_partitions(settings)

    def unpartitioned(name: str, select: str, exclude: str) -> dg.AssetsDefinition:
        @dbt_assets(
            manifest=manifest,
            project=project,
            dagster_dbt_translator=TRANSLATOR,
            pool=WAREHOUSE_POOL,
            name=name,
            select=select,
            exclude=exclude,
        )
        def build(context: dg.AssetExecutionContext, dbt: DbtCliResource, segmart: SegmartHome):
            """dbt build of the selected models (their tests run as asset checks)."""
            dbt_env(segmart.paths)
            enforce_upstream_checks(context, _upstream_of_selection(context))
            args = ["build", "--vars", dbt_vars(segmart.home)]
            yield from dbt.cli(args, context=context).stream()

        return build

    # seeds, staging, intermediate models the daily ones read; then every other model
    # (after_ml: the models after the k-means assets, dbt_cluster_assets.py)
    segmart_dbt_upstream = unpartitioned(
        "segmart_dbt_upstream",
        f"+tag:{PARTITIONED_TAG}",
        f"tag:{PARTITIONED_TAG} tag:after_ml",
    )
    segmart_dbt = unpartitioned(
        "segmart_dbt",
        "fqn:*",
        f"+tag:{PARTITIONED_TAG} tag:after_ml",
    )

    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=TRANSLATOR,
        pool=WAREHOUSE_POOL,
        name="segmart_dbt_daily",
        select=f"tag:{PARTITIONED_TAG}",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def segmart_dbt_daily(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, segmart: SegmartHome
    ):
        """dbt build of the daily-partitioned models over the run's window (look-back included).

        A run without a partition (the unpartitioned full job) or tagged
        ``segmart/full_refresh=true`` rebuilds them completely.
        """
        dbt_env(segmart.paths)
        enforce_upstream_checks(context, _upstream_of_selection(context))
        args = ["build", "--vars", dbt_vars(segmart.home)]
        lookback = partition_settings(segmart.home).lookback_days
        if context.run.tags.get(FULL_REFRESH_TAG) == "true":
            window = Window(None, None)
            args.append("--full-refresh")
            context.log.info(f"Run tagged {FULL_REFRESH_TAG}: full refresh")
        elif context.has_partition_key or context.has_partition_key_range:
            keys = context.partition_key_range
            window = window_for(partitions_def, keys.start, keys.end, lookback)
            context.log.info(
                f"Partitions {keys.start}..{keys.end}: rebuilding rows dated in {window} "
                f"({lookback} look-back days)"
            )
        else:
            window = Window(None, None)
            args.append("--full-refresh")
            context.log.info("No partition: full refresh of the daily-partitioned models")
        previous = {name: os.environ.get(name) for name in WINDOW_ENV}
        os.environ.update(window.env())
        try:
            yield from dbt.cli(args, context=context).stream()
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    return [segmart_dbt_upstream, segmart_dbt_daily, segmart_dbt]
