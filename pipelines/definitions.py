"""The one code location: every domain's definitions merged, built lazily.

The top of the package's layers (docs/architecture.md): the only module that imports every
domain, and the one that wires them to each other (the quality checks into the gate that the
dbt, Python-step and publish assets share).
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.attribution.assets import build_attribution_asset
from pipelines.automation.alerts import alert_on_run_failure
from pipelines.automation.jobs import full_refresh_job, no_checks_job
from pipelines.automation.progress import RUN_LOG_LOGGER, run_log_file
from pipelines.automation.schedules import daily_refresh_schedule
from pipelines.clv.assets import build_clv_asset
from pipelines.core.gate import UpstreamGate
from pipelines.core.resources import SegmartHome
from pipelines.ingest.assets import build_ingest_landing, build_landing_sensor
from pipelines.quality import mart_checks, raw_checks
from pipelines.quality.reconcile import reconcile_checks, reconciled_staging_keys
from pipelines.reporting.report import build_report_asset
from pipelines.segments.assets import build_cluster_assets
from pipelines.serving.assets import SERVING_KEY, build_serving_asset
from pipelines.transform.dbt_assets import build_dbt_assets
from pipelines.transform.marts import mart_asset_keys
from pipelines.transform.project import dbt_cli_resource


@dg.definitions
def defs() -> dg.Definitions:
    # the gated assets share one gate; it learns the blocking checks once they are built below
    gate = UpstreamGate()
    dbt_assets = build_dbt_assets(gate)
    cluster_assets = build_cluster_assets(gate)  # k-means between dbt models, then dbt after it
    marts = mart_asset_keys([*dbt_assets, *cluster_assets])
    checks = [
        *raw_checks,
        *mart_checks([key.path[-1] for key in marts]),
        *reconcile_checks(),
    ]
    gate.watch(checks)
    home = dg.EnvVar("SEGMART_HOME") if os.environ.get("SEGMART_HOME") else "data"
    return dg.Definitions(
        assets=[
            build_ingest_landing(),
            *dbt_assets,
            *cluster_assets,
            build_attribution_asset(gate),  # Markov / Shapley between dbt models
            build_clv_asset(gate),  # BG/NBD + Gamma-Gamma between dbt models
            build_serving_asset(marts, gated_by=reconciled_staging_keys(), gate=gate),
            build_report_asset(SERVING_KEY),
        ],
        asset_checks=checks,
        jobs=[full_refresh_job, no_checks_job],
        schedules=[daily_refresh_schedule],
        sensors=[build_landing_sensor(full_refresh_job), alert_on_run_failure],
        resources={"segmart": SegmartHome(home=home), "dbt": dbt_cli_resource()},
        # the console unless the run config picks others (`segmart run`: the run log file)
        loggers={"console": dg.colored_console_logger, RUN_LOG_LOGGER: run_log_file},
    )
