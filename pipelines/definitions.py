"""The one code location: every domain's definitions merged, built lazily."""

from __future__ import annotations

import os

import dagster as dg

from pipelines.attribution.assets import build_attribution_asset
from pipelines.automation.alerts import alert_on_run_failure
from pipelines.automation.jobs import full_refresh_job, no_checks_job
from pipelines.automation.progress import RUN_LOG_LOGGER, run_log_file
from pipelines.automation.schedules import daily_refresh_schedule
from pipelines.clv.assets import build_clv_asset
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
    dbt_assets = build_dbt_assets()
    cluster_assets = build_cluster_assets()  # k-means between dbt models, then the dbt models after
    marts = mart_asset_keys([*dbt_assets, *cluster_assets])
    home = dg.EnvVar("SEGMART_HOME") if os.environ.get("SEGMART_HOME") else "data"
    return dg.Definitions(
        assets=[
            build_ingest_landing(),
            *dbt_assets,
            *cluster_assets,
            build_attribution_asset(),  # Markov / Shapley between dbt models
            build_clv_asset(),  # BG/NBD + Gamma-Gamma between dbt models
            build_serving_asset(marts, gated_by=reconciled_staging_keys()),
            build_report_asset(SERVING_KEY),
        ],
        asset_checks=[
            *raw_checks,
            *mart_checks([key.path[-1] for key in marts]),
            *reconcile_checks(),
        ],
        jobs=[full_refresh_job, no_checks_job],
        schedules=[daily_refresh_schedule],
        sensors=[build_landing_sensor(full_refresh_job), alert_on_run_failure],
        resources={"segmart": SegmartHome(home=home), "dbt": dbt_cli_resource()},
        # the console unless the run config picks others (`segmart run`: the run log file)
        loggers={"console": dg.colored_console_logger, RUN_LOG_LOGGER: run_log_file},
    )
