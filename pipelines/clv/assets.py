"""Dagster asset of group ``clv_ml``: BG/NBD + Gamma-Gamma between the dbt models.

dbt builds ``fct_orders`` and ``int_as_of_date`` → this asset fits the models and writes
``ml.customer_clv``, ``ml.clv_holdout`` and ``ml.clv_fits`` → dbt sources ``ml`` feed
``dim_customers`` (the CLV columns), ``fct_clv_holdout`` and ``kpi_clv_segments`` (tag
``after_ml``, built by the same dbt step as the k-means marts). The asset keys (``ml/<table>``)
are the keys the dbt translator gives those sources. A run on thin data does not fail: the
statuses say why, the predictions are nulls (see predict.py). When the purchases, the as-of
date, ``clv:`` and the code have the signature stored with the tables, they are kept as they
are (no fit, no write; metadata ``result: inputs unchanged: kept``; pipelines/core/signatures.py).
"""

from pathlib import Path

import dagster as dg

from pipelines.clv.config import clv_spec
from pipelines.clv.predict import run_clv
from pipelines.clv.warehouse import (
    ML_SCHEMA,
    TABLES,
    connect,
    input_fingerprints,
    read_purchases,
    write_tables,
)
from pipelines.core.gate import UpstreamGate
from pipelines.core.resources import WAREHOUSE_POOL, SegmartHome
from pipelines.core.signatures import code_version, step_signature, unchanged

GROUP = "clv_ml"
UPSTREAM = [dg.AssetKey("fct_orders"), dg.AssetKey("int_as_of_date")]
STEP = "customer_clv"
# the fit's code: this package's sources and the libraries the numbers depend on
CODE_VERSION = code_version(Path(__file__).parent, ("numpy", "scipy", "pandas"))
KEPT = "inputs unchanged: kept"


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


def _kept(context: dg.AssetExecutionContext, con, signature: str):
    """Materializations of the tables kept as they are (their inputs and code did not change
    since the run that wrote them): row counts and the fits' statuses read back."""
    statuses = dict(con.execute(f"select fit_name, status from {ML_SCHEMA}.clv_fits").fetchall())
    context.log.info(
        f"CLV: {KEPT} (the purchases, the as-of date, clv: and the code are those of the run "
        f"that wrote ml.customer_clv; fit {statuses.get('prediction')})"
    )
    for table in TABLES:
        rows = con.execute(f"select count(*) from {ML_SCHEMA}.{table}").fetchone()[0]
        metadata = {"dagster/row_count": rows, "table": f"{ML_SCHEMA}.{table}", "result": KEPT}
        if table in ("customer_clv", "clv_holdout"):
            metadata["status"] = statuses.get(
                "prediction" if table == "customer_clv" else "holdout"
            )
        yield dg.MaterializeResult(
            asset_key=[ML_SCHEMA, table], metadata=metadata, data_version=dg.DataVersion(signature)
        )


def build_clv_asset(gate: UpstreamGate | None = None) -> dg.AssetsDefinition:
    gate = gate or UpstreamGate()

    def spec(table: str, description: str) -> dg.AssetSpec:
        return dg.AssetSpec(
            [ML_SCHEMA, table],
            deps=UPSTREAM,
            group_name=GROUP,
            kinds={"scipy", "duckdb"},
            code_version=CODE_VERSION,
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
            signature = step_signature(CODE_VERSION, repr(spec_), input_fingerprints(con))
            if unchanged(con, ML_SCHEMA, STEP, signature, list(TABLES)):
                yield from _kept(context, con, signature)
                return
            purchases, as_of = read_purchases(con)
            run = run_clv(purchases, as_of if as_of is not None else "1970-01-01", spec_)
            # written even when nothing fitted, so the marts downstream never show stale rows
            written = write_tables(
                con,
                {"customer_clv": run.customers, "clv_holdout": run.holdout, "clv_fits": run.fits},
                signature=(STEP, signature),
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
                "result": "inputs changed: refitted",
            },
            data_version=dg.DataVersion(signature),
        )
        yield dg.MaterializeResult(
            asset_key=[ML_SCHEMA, "clv_holdout"],
            metadata={
                "dagster/row_count": len(run.holdout),
                "status": holdout["status"],
                "fit": dg.MetadataValue.json(holdout),
                "table": written[1],
                "result": "inputs changed: refitted",
            },
            data_version=dg.DataVersion(signature),
        )
        yield dg.MaterializeResult(
            asset_key=[ML_SCHEMA, "clv_fits"],
            metadata={
                "dagster/row_count": len(run.fits),
                "table": written[2],
                "result": "inputs changed: refitted",
            },
            data_version=dg.DataVersion(signature),
        )

    return _clv
