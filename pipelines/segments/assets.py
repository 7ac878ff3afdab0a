"""Dagster assets of group ``segments_ml``: k-means clusters between the dbt models.

dbt builds ``dim_accounts`` / ``dim_customers`` → these assets fit k-means and write
``ml.*_clusters`` / ``ml.*_cluster_profiles`` → dbt sources ``ml`` feed the marts
``dim_account_clusters``, ``dim_customer_clusters`` and ``dim_cluster_profiles``.
The asset keys (``ml/<table>``) are the keys the dbt translator gives those sources.

Each step keeps its tables as they are (no fit, no write; metadata ``result: inputs unchanged:
kept``) when the key and feature columns of its mart, its ``clusters:`` settings and its code
version have the signature stored with them (pipelines/core/signatures.py).
"""

from pathlib import Path

import dagster as dg

from pipelines.core.gate import UpstreamGate
from pipelines.core.resources import WAREHOUSE_POOL, SegmartHome
from pipelines.core.signatures import code_version, step_signature, unchanged
from pipelines.segments.config import cluster_spec
from pipelines.segments.kmeans import ClusterFit, fit_clusters, profile_wide
from pipelines.segments.warehouse import (
    ML_SCHEMA,
    connect,
    input_fingerprints,
    read_features,
    table_names,
    write_tables,
)
from pipelines.transform.dbt_cluster_assets import build_dbt_cluster_assets

GROUP = "segments_ml"
# the fit's code: this package's sources and the libraries the clusters depend on
CODE_VERSION = code_version(Path(__file__).parent, ("numpy", "pandas", "scikit-learn"))
KEPT = "inputs unchanged: kept"
# customers: the profile dim_customers is built on (dim_customers itself comes after the CLV step)
MART_BY_ENTITY = {"accounts": "dim_accounts", "customers": "int_customers_profiled"}


def fit_metadata(fit: ClusterFit, spec) -> dict:
    wide = profile_wide(fit.profile)
    metadata = {
        "dagster/row_count": fit.rows,
        "k": fit.k,
        "silhouette": dg.MetadataValue.float(fit.silhouette)
        if fit.silhouette is not None
        else dg.MetadataValue.text("n/a"),
        "silhouette_by_k": dg.MetadataValue.json(
            {str(k): v for k, v in fit.silhouette_by_k.items()}
        ),
        "fit_features": dg.MetadataValue.json(fit.fit_features),
        "dropped_features": dg.MetadataValue.json(fit.dropped_features),
        "imputed_nulls (median)": dg.MetadataValue.json(fit.imputed),
        "random_state": spec.random_state,
        "profile": dg.MetadataValue.md(wide.to_markdown(index=False, floatfmt=".4g"))
        if not wide.empty
        else dg.MetadataValue.text("no clusters"),
    }
    if fit.note:
        metadata["note"] = fit.note
    return metadata


def _kept(context: dg.AssetExecutionContext, con, entity: str, signature: str):
    """Materializations of the cluster tables kept as they are (their mart's rows, clusters:
    and the code did not change since the run that wrote them), described from the tables."""
    clusters_table, profile_table = table_names(entity)
    profile = con.execute(
        f"select * from {ML_SCHEMA}.{profile_table} order by cluster_id, feature"
    ).df()
    rows = con.execute(f"select count(*) from {ML_SCHEMA}.{clusters_table}").fetchone()[0]
    k = int(profile["cluster_id"].nunique())
    wide = profile_wide(profile)
    shown = (
        dg.MetadataValue.md(wide.to_markdown(index=False, floatfmt=".4g"))
        if not wide.empty
        else dg.MetadataValue.text("no clusters")
    )
    context.log.info(f"{entity}: {KEPT} ({rows} rows in {k} clusters)")
    for table, metadata in (
        (clusters_table, {"dagster/row_count": rows, "k": k}),
        (profile_table, {"dagster/row_count": len(profile), "clusters": k}),
    ):
        yield dg.MaterializeResult(
            asset_key=[ML_SCHEMA, table],
            metadata={
                **metadata,
                "profile": shown,
                "table": f"{ML_SCHEMA}.{table}",
                "result": KEPT,
            },
            data_version=dg.DataVersion(signature),
        )


def build_cluster_asset(entity: str, gate: UpstreamGate | None = None) -> dg.AssetsDefinition:
    """``ml/<entity>_clusters`` + ``ml/<entity>_cluster_profiles`` from ``dim_<entity>``."""
    gate = gate or UpstreamGate()
    mart = dg.AssetKey(MART_BY_ENTITY[entity])
    clusters_table, profile_table = table_names(entity)
    singular = entity.rstrip("s")

    def spec(table: str, description: str) -> dg.AssetSpec:
        return dg.AssetSpec(
            [ML_SCHEMA, table],
            deps=[mart],
            group_name=GROUP,
            kinds={"scikit-learn", "duckdb"},
            code_version=CODE_VERSION,
            description=description,
        )

    @dg.multi_asset(
        name=f"{singular}_clusters",
        specs=[
            spec(
                clusters_table,
                f"k-means cluster of every row of {mart.path[-1]} (key, cluster_id, "
                "cluster_label); config/segmart.yaml `clusters:`.",
            ),
            spec(
                profile_table,
                f"Profile of the {singular} clusters: size, share, mean and z-score "
                "centroid of each feature, readable label.",
            ),
        ],
        pool=WAREHOUSE_POOL,
    )
    def _clusters(context: dg.AssetExecutionContext, segmart: SegmartHome):
        gate.enforce(context, [mart])
        config = segmart.config()
        spec = cluster_spec(config, entity)
        step = f"{singular}_clusters"
        with connect(segmart.paths.warehouse, config.get("duckdb")) as con:
            signature = step_signature(CODE_VERSION, repr(spec), input_fingerprints(con, spec))
            if unchanged(con, ML_SCHEMA, step, signature, [clusters_table, profile_table]):
                yield from _kept(context, con, entity, signature)
                return
            frame = read_features(con, spec)
            fit = fit_clusters(frame, spec)
            # written even when empty, so the dbt marts downstream see zero rows, not stale ones
            written = write_tables(
                con, entity, fit.assignments, fit.profile, signature=(step, signature)
            )
        context.log.info(
            f"{entity}: {fit.rows} rows in {fit.k} clusters, silhouette {fit.silhouette}"
            + (f" ({fit.note})" if fit.note else "")
        )
        metadata = fit_metadata(fit, spec)
        refitted = "inputs changed: refitted"
        yield dg.MaterializeResult(
            asset_key=[ML_SCHEMA, clusters_table],
            metadata={**metadata, "table": written[0], "result": refitted},
            data_version=dg.DataVersion(signature),
        )
        yield dg.MaterializeResult(
            asset_key=[ML_SCHEMA, profile_table],
            metadata={
                "dagster/row_count": len(fit.profile),
                "clusters": fit.k,
                "profile": metadata["profile"],
                "table": written[1],
                "result": refitted,
            },
            data_version=dg.DataVersion(signature),
        )

    return _clusters


def build_cluster_assets(gate: UpstreamGate | None = None) -> list[dg.AssetsDefinition]:
    """The two k-means assets and the dbt models after them (tag ``after_ml``)."""
    return [
        build_cluster_asset("accounts", gate),
        build_cluster_asset("customers", gate),
        build_dbt_cluster_assets(gate),
    ]
