"""Dagster asset of group ``attribution_ml``: Markov and Shapley credits between dbt models.

dbt builds ``fct_conversions`` / ``fct_touchpoints`` → this asset aggregates the journeys,
fits both models per conversion type and writes ``ml.attribution_channel_credits`` → dbt
source ``ml`` feeds ``fct_attribution`` (models ``markov`` and ``shapley``) and the marts
after it (tag ``after_ml``, pipelines/transform/dbt_cluster_assets.py).
"""

import time
from pathlib import Path

import dagster as dg

from pipelines.attribution.config import attribution_spec
from pipelines.attribution.models import fit
from pipelines.attribution.warehouse import (
    CREDITS_TABLE,
    ML_SCHEMA,
    connect,
    input_fingerprints,
    read_journeys,
    write_credits,
)
from pipelines.core.gate import UpstreamGate
from pipelines.core.resources import WAREHOUSE_POOL, SegmartHome
from pipelines.core.signatures import code_version, step_signature, unchanged

GROUP = "attribution_ml"
UPSTREAM = [dg.AssetKey("fct_conversions"), dg.AssetKey("fct_touchpoints")]
STEP = CREDITS_TABLE
# the models' code: this package's sources and the libraries the credits depend on
CODE_VERSION = code_version(Path(__file__).parent, ("numpy", "pandas", "scipy"))
KEPT = "inputs unchanged: kept"


def _effects_markdown(result) -> dg.MetadataValue:
    if result.effects is None or result.effects.empty:
        return dg.MetadataValue.text("no converting journey")
    table = result.effects.pivot_table(
        index="channel", columns="conversion_type", values="removal_effect"
    )
    return dg.MetadataValue.md(table.to_markdown(floatfmt=".4f"))


def build_attribution_asset(gate: UpstreamGate | None = None) -> dg.AssetsDefinition:
    gate = gate or UpstreamGate()

    @dg.asset(
        key=[ML_SCHEMA, CREDITS_TABLE],
        deps=UPSTREAM,
        group_name=GROUP,
        kinds={"python", "duckdb"},
        code_version=CODE_VERSION,
        pool=WAREHOUSE_POOL,
        description=(
            "Markov removal-effect and Shapley channel credits of every conversion with "
            "touchpoints (conversion_key, attribution_model, channel, channel_credit), fitted "
            "per conversion type on converting and non-converting journeys; config/segmart.yaml "
            "`attribution:`. Read by fct_attribution."
        ),
    )
    def attribution_channel_credits(context: dg.AssetExecutionContext, segmart: SegmartHome):
        gate.enforce(context, UPSTREAM)
        config = segmart.config()
        spec = attribution_spec(config)
        started = time.perf_counter()
        with connect(segmart.paths.warehouse, config.get("duckdb")) as con:
            signature = step_signature(CODE_VERSION, repr(spec), input_fingerprints(con))
            if unchanged(con, ML_SCHEMA, STEP, signature, [CREDITS_TABLE]):
                rows = con.execute(f"select count(*) from {ML_SCHEMA}.{CREDITS_TABLE}").fetchone()
                context.log.info(f"attribution: {KEPT} ({rows[0]} channel credits)")
                return dg.MaterializeResult(
                    metadata={
                        "dagster/row_count": rows[0],
                        "table": f"{ML_SCHEMA}.{CREDITS_TABLE}",
                        "seconds": round(time.perf_counter() - started, 2),
                        "markov_order": spec.markov_order,
                        "result": KEPT,
                    },
                    data_version=dg.DataVersion(signature),
                )
            journeys = read_journeys(con)
            result = fit(journeys, spec)
            # written even when empty, so fct_attribution sees no stale credits
            relation, rows = write_credits(con, result.credits, signature=(STEP, signature))
        seconds = time.perf_counter() - started
        context.log.info(
            f"attribution: {rows} channel credits for {len(result.summary)} conversion types "
            f"in {seconds:.1f} s (Markov order {spec.markov_order})"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "table": relation,
                "seconds": round(seconds, 2),
                "markov_order": spec.markov_order,
                "by_conversion_type": dg.MetadataValue.json(result.summary),
                "removal_effects": _effects_markdown(result),
                "result": "inputs changed: refitted",
            },
            data_version=dg.DataVersion(signature),
        )

    return attribution_channel_credits
