"""Dagster asset of group ``clv_ml``: BG/NBD + Gamma-Gamma between the dbt models.

dbt builds ``fct_orders`` and ``int_as_of_date`` → this asset fits the models and writes
``ml.customer_clv``, ``ml.clv_holdout`` and ``ml.clv_fits`` → dbt sources ``ml`` feed
``dim_customers`` (the CLV columns), ``fct_clv_holdout`` and ``kpi_clv_segments`` (tag
``after_ml``, built by the same dbt step as the k-means marts). The asset keys (``ml/<table>``)
are the keys the dbt translator gives those sources. A run on thin data does not fail: the
statuses say why, the predictions are nulls (see predict.py).
"""

import dagster as dg

from pipelines.clv.config import clv_spec
from pipelines.clv.predict import run_clv
from pipelines.clv.warehouse import ML_SCHEMA, connect, read_purchases, write_tables
from pipelines.core.gate import UpstreamGate
from pipelines.core.resources import WAREHOUSE_POOL, SegmartHome

GROUP = "clv_ml"
UPSTREAM = [dg.AssetKey("fct_orders"), dg.AssetKey("int_as_of_date")]


def _fit_metadata(fits, name: str) -> dict:
    """The fit's row as plain JSON values (dates as ISO strings, nulls left out)."""
    row = fits.set_index("fit_name").loc[name]
    out = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and value != value):
            continue
        if hasattr(value, "date"):
            value = str(value.date())
        elif hasattr(value, "item"):
            value = value.item()  # numpy scalar
        out[key] = value
    return out


def build_clv_asset(gate: UpstreamGate | None = None) -> dg.AssetsDefinition:
    gate = gate or UpstreamGate()

    def spec(table: str, description: str) -> dg.AssetSpec:
        return dg.AssetSpec(
            [ML_SCHEMA, table],
            deps=UPSTREAM,
            group_name=GROUP,
            kinds={"scipy", "duckdb"},
            description=description,
        )

    @dg.multi_asset(
        name="customer_clv",
        specs=[
            spec(
                "customer_clv",
                "BG/NBD + Gamma-Gamma predictions per customer (probability alive, expected "
                "purchases in 90 / 365 days, expected AOV, 12-month CLV, tier, status); "
                "config/segmart.yaml `clv:`.",
            ),
            spec(
                "clv_holdout",
                "Predicted vs actual purchases in the holdout period, per week and per "
                "calibration frequency bucket.",
            ),
            spec("clv_fits", "One row per fit of the last run: status, parameters, likelihood."),
        ],
        pool=WAREHOUSE_POOL,
    )
    def _clv(context: dg.AssetExecutionContext, segmart: SegmartHome):
        gate.enforce(context, UPSTREAM)
        config = segmart.config()
        spec_ = clv_spec(config)
        with connect(segmart.paths.warehouse, config.get("duckdb")) as con:
            purchases, as_of = read_purchases(con)
            run = run_clv(purchases, as_of if as_of is not None else "1970-01-01", spec_)
            # written even when nothing fitted, so the marts downstream never show stale rows
            written = write_tables(
                con,
                {"customer_clv": run.customers, "clv_holdout": run.holdout, "clv_fits": run.fits},
            )
        prediction = _fit_metadata(run.fits, "prediction")
        holdout = _fit_metadata(run.fits, "holdout")
        statuses = run.customers["clv_status"].value_counts().to_dict()
        line = (
            f"CLV fit {prediction['status']} on {prediction.get('customers', 0)} customers"
            + (f" ({prediction['message']})" if prediction.get("message") else "")
            + f"; holdout fit {holdout['status']}"
        )
        if prediction["status"] == "ok" and holdout["status"] == "ok":
            context.log.info(line)
        else:
            context.log.warning(line)
        yield dg.MaterializeResult(
            asset_key=[ML_SCHEMA, "customer_clv"],
            metadata={
                "dagster/row_count": len(run.customers),
                "status": prediction["status"],
                "fit": dg.MetadataValue.json(prediction),
                "customers_by_status": dg.MetadataValue.json(
                    {str(k): int(v) for k, v in statuses.items()}
                ),
                "table": written[0],
            },
        )
        yield dg.MaterializeResult(
            asset_key=[ML_SCHEMA, "clv_holdout"],
            metadata={
                "dagster/row_count": len(run.holdout),
                "status": holdout["status"],
                "fit": dg.MetadataValue.json(holdout),
                "table": written[1],
            },
        )
        yield dg.MaterializeResult(
            asset_key=[ML_SCHEMA, "clv_fits"],
            metadata={"dagster/row_count": len(run.fits), "table": written[2]},
        )

    return _clv
