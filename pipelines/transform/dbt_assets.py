"""``@dbt_assets`` running ``dbt build``: models become assets, dbt tests asset checks.

One ``dbt build`` per run for the whole project (``segmart_dbt``), and one more for the models
after the Python steps that read marts and write tables dbt reads again (the k-means assets:
``segmart_dbt_after_ml`` in dbt_cluster_assets.py). Every asset is unpartitioned; the
incremental models build the rows loaded since their last build on their own
(docs/incremental.md), and a run passes ``--full-refresh`` when pipelines/transform/incremental.py
says so.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from pipelines.core.gate import UpstreamGate
from pipelines.core.resources import WAREHOUSE_POOL, SegmartHome
from pipelines.core.settings import pii_key
from pipelines.transform.incremental import (
    fingerprint,
    full_refresh_reason,
    incremental_model_names,
    record_build,
    state_file,
)
from pipelines.transform.project import (
    build_args,
    dbt_env,
    dbt_project,
    dbt_vars,
    ensure_manifest,
)

AFTER_ML_TAG = "after_ml"


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


def _with_build_metadata(context: dg.AssetExecutionContext, events, how: str, incremental):
    """dbt's events; each incremental model's output says how it was built."""
    keys = context.assets_def.keys_by_output_name
    for event in events:
        if isinstance(event, dg.Output) and keys[event.output_name].path[-1] in incremental:
            event = event.with_metadata({**event.metadata, "segmart/incremental": how})
        yield event


def incremental_build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    segmart: SegmartHome,
    manifest,
    tag: str | None = None,
    exclude_tag: str | None = None,
):
    """One ``dbt build`` of the selected models whose incremental models (those tagged ``tag``,
    none tagged ``exclude_tag``) build the rows loaded or changed since their last build, or
    everything with ``--full-refresh`` (tag ``segmart/full_refresh=true``, or their code
    changed: pipelines/transform/incremental.py); each build keeps its own record."""
    incremental = incremental_model_names(manifest, tag, exclude_tag)
    record = state_file(tag)
    args = build_args(segmart.home)
    current = fingerprint(
        manifest, dbt_vars(segmart.home), pii_key(segmart.home).key_id, tag, exclude_tag
    )
    reason = full_refresh_reason(segmart.paths, current, context.run.tags, record)
    how = f"full refresh: {reason}" if reason else "rows loaded since the last build"
    if reason:
        args.append("--full-refresh")
    context.log.info(f"Incremental models: {how}")
    events = dbt.cli(args, context=context).stream()
    yield from _with_build_metadata(context, events, how, incremental)
    built = {key.path[-1] for key in context.selected_asset_keys}
    if built >= incremental:  # a run of some models only leaves the record as it is
        record_build(segmart.paths, current, record)


def build_dbt_assets(gate: UpstreamGate | None = None) -> list[dg.AssetsDefinition]:
    """The dbt project but the models after the k-means assets, as one ``@dbt_assets``;
    ``gate``: the blocking checks of earlier runs it must not build past (core/gate.py)."""
    gate = gate or UpstreamGate()
    project = dbt_project()
    manifest = ensure_manifest(project)

    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=TRANSLATOR,
        pool=WAREHOUSE_POOL,
        name="segmart_dbt",
        exclude=f"tag:{AFTER_ML_TAG}",
    )
    def segmart_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, segmart: SegmartHome):
        """dbt build of the selected models (their tests run as asset checks). The incremental
        models build the rows loaded since their last build, or everything with
        ``--full-refresh`` (tag ``segmart/full_refresh=true``, or their code changed:
        pipelines/transform/incremental.py)."""
        dbt_env(segmart.paths)
        gate.enforce(context, _upstream_of_selection(context))
        yield from incremental_build(context, dbt, segmart, manifest, exclude_tag=AFTER_ML_TAG)

    return [segmart_dbt]
