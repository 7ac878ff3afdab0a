"""``@dbt_assets`` running ``dbt build``: models become assets, dbt tests asset checks."""

import os
from collections.abc import Mapping
from contextlib import contextmanager
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
from pipelines.transform import dagster_workaround  # noqa: F401  (runs without a partition)
from pipelines.transform.catchup import DailyBuild, daily_build, save_snapshot
from pipelines.transform.partitions import (
    DATED_ENTITIES,
    MAX_RECORDED_DAYS,
    PARTITIONED_TAG,
    all_window_env,
    daily_partitions,
    partition_settings,
    run_partition_range,
)
from pipelines.transform.project import build_args, dbt_env, dbt_project, ensure_manifest


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


@contextmanager
def _window_env(values: dict[str, str]):
    """The window variables (partitions.all_window_env) set for dbt while the block runs,
    then restored."""
    previous = {name: os.environ.get(name) for name in all_window_env()}
    os.environ.update({name: values.get(name, "") for name in previous})
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _unchanged_outputs(context: dg.AssetExecutionContext, build: DailyBuild):
    """Nothing to build: no dbt run, and no materialization unless this run goes on below.

    Dagster skips a whole step when an output it reads was not yielded (dagster#9408): the
    unpartitioned models after the daily ones (every mart) would not be rebuilt. So when a
    step downstream runs too, each model gets an output whose metadata says nothing was built
    (the tables are left untouched); alone, the step yields nothing.
    """
    graph = context.job_def.asset_layer.asset_graph
    own = set(context.assets_def.keys)
    below = {child for key in context.selected_asset_keys for child in graph.get(key).child_keys}
    if not (below - own) & _keys_in_run(context):
        context.log.info("Nothing downstream in this run: no materialization")
        return
    for key in _selected_in_dependency_order(context):
        name = context.assets_def.get_output_name_for_asset_key(key)
        yield dg.Output(None, output_name=name, metadata=build.metadata())


def _partition_materializations(
    context: dg.AssetExecutionContext,
    build: DailyBuild,
    partitions_def: dg.DailyPartitionsDefinition,
):
    """In a run without a partition, one materialization per model and day an incremental
    build rebuilt, so that Dagster's partition status shows those days as materialized (a
    partitioned run gets them from Dagster itself). A full refresh, or a catch-up over more
    than MAX_RECORDED_DAYS days (a late file far back, ``segmart forget``), records none:
    years of days would cost minutes of event-log writes."""
    if build.partition_range is None or run_partition_range(context) is not None:
        return
    for key in _selected_in_dependency_order(context):
        model = key.path[-1]
        own = build.model_range(model)
        if own is None:  # a catch-up of another entity's days
            continue
        days = partitions_def.get_partition_keys_in_range(own)
        if len(days) > MAX_RECORDED_DAYS:
            context.log.info(
                f"{model}: {len(days)} days rebuilt, not recorded per day "
                f"(over {MAX_RECORDED_DAYS})"
            )
            continue
        metadata = build.metadata(model)
        for day in days:
            yield dg.AssetMaterialization(asset_key=key, partition=day, metadata=metadata)


def _selected_in_dependency_order(context: dg.AssetExecutionContext) -> list[dg.AssetKey]:
    """The step's selected assets in dependency order, as Dagster requires of its outputs."""
    graph = context.job_def.asset_layer.asset_graph
    return [k for k in graph.toposorted_asset_keys if k in context.selected_asset_keys]


def _keys_in_run(context: dg.AssetExecutionContext) -> set[dg.AssetKey]:
    graph = context.job_def.asset_layer.asset_graph
    return set(context.run.asset_selection or graph.executable_asset_keys)


def _with_build_metadata(context: dg.AssetExecutionContext, events, build: DailyBuild):
    """dbt's events, each model's output with what the build did to that model."""
    keys = context.assets_def.keys_by_output_name
    for event in events:
        if isinstance(event, dg.Output):
            model = keys[event.output_name].path[-1]
            event = event.with_metadata({**event.metadata, **build.metadata(model)})
        yield event


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
            yield from dbt.cli(build_args(segmart.home), context=context).stream()

        return build

    # seeds, staging and intermediate models the daily ones read; then every other model
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

        A run tagged ``segmart/full_refresh=true`` rebuilds them completely; a partitioned run
        (schedule, backfill) builds its partitions; a run without a partition (the landing
        sensor, ``segmart run``) builds what the raw layer gained since their last build
        (pipelines/transform/catchup.py), after this run's ingest. The materializations say
        which window was built and why; such a catch-up also records each rebuilt day
        (_partition_materializations).
        """
        dbt_env(segmart.paths)
        enforce_upstream_checks(context, _upstream_of_selection(context))
        build = daily_build(
            segmart.paths,
            partitions_def,
            manifest,
            partition_settings(segmart.home).lookback_days,
            dict(context.run.tags),
            run_partition_range(context),
        )
        context.log.info(f"Daily-partitioned models: {build}")
        if build.window is None:
            yield from _unchanged_outputs(context, build)
            return
        args = build_args(segmart.home)
        if build.full_refresh:
            args.append("--full-refresh")
        with _window_env(build.env()):
            events = dbt.cli(args, context=context).stream()
            yield from _with_build_metadata(context, events, build)
        yield from _partition_materializations(context, build, partitions_def)
        # the record covers every daily model: a run of only some of them leaves it for the
        # next run
        built = {key.path[-1] for key in context.selected_asset_keys}
        if build.snapshot is not None and built >= set(DATED_ENTITIES):
            save_snapshot(segmart.paths, build.snapshot)

    return [segmart_dbt_upstream, segmart_dbt_daily, segmart_dbt]
