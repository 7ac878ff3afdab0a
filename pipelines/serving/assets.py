"""The Dagster asset that publishes the checked marts to the serving layer."""

from collections.abc import Sequence

import dagster as dg

from pipelines.core.gate import UpstreamGate
from pipelines.core.resources import WAREHOUSE_POOL, SegmartHome
from pipelines.serving.publish import publish

SERVING_KEY = dg.AssetKey(["serving", "marts"])


def build_serving_asset(
    mart_keys: Sequence[dg.AssetKey],
    gated_by: Sequence[dg.AssetKey] = (),
    gate: UpstreamGate | None = None,
) -> dg.AssetsDefinition:
    """``serving/marts``: depends on every mart, so blocking mart checks gate the publish.

    ``gated_by``: further upstream assets (not published) whose blocking checks must pass too,
    e.g. the staging models the layer reconciliations check. ``gate``: the blocking checks of
    earlier runs the publish must not go past (core/gate.py).
    """
    gate = gate or UpstreamGate()
    mart_keys = list(mart_keys)
    gate_keys = [*mart_keys, *(key for key in gated_by if key not in mart_keys)]
    marts = [key.path[-1] for key in mart_keys]

    @dg.asset(
        key=SERVING_KEY,
        group_name="serving",
        kinds={"duckdb", "parquet"},
        pool=WAREHOUSE_POOL,
        deps=gate_keys,
        description=(
            "The checked marts published atomically for BI tools: serving/marts.duckdb "
            "(explicit storage version, swapped by rename) and serving/parquet/<mart>.parquet."
        ),
    )
    def serving_marts(context: dg.AssetExecutionContext, segmart: SegmartHome):
        gate.enforce(context, gate_keys)
        report = publish(segmart.paths.root, marts, run_id=context.run_id)
        metadata = {
            "path": dg.MetadataValue.path(report.database),
            "storage_version": report.storage_version,
            "parquet_dir": dg.MetadataValue.path(str(segmart.paths.serving / "parquet")),
            "database_sha256": report.database_sha256,
            "rows": dg.MetadataValue.json(report.rows),
            "dagster/row_count": sum(report.rows.values()),
        }
        for mart, rows in report.rows.items():
            metadata[f"rows: {mart}"] = dg.MetadataValue.int(rows)
        context.log.info(f"published {len(report.marts)} marts to {report.database}")
        return dg.MaterializeResult(metadata=metadata)

    return serving_marts
