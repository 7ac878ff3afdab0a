"""Jobs: the whole refresh, and the ingest-and-onwards run a landing sensor starts.

The full job holds the daily-partitioned dbt models (pipelines/transform/partitions.py) and
the unpartitioned rest, which Dagster allows in one job. Launched with a partition or a
partition range (the daily schedule, a backfill: one run per range), the partitioned models
rebuild that window; launched without one (the landing sensor, `segmart run`, `dagster job
execute`) they build what the raw layer gained since their last build, after the run's ingest
(pipelines/transform/catchup.py); tagged `segmart/full_refresh=true` they are rebuilt
completely. Unpartitioned assets are rebuilt in every run.
"""

from __future__ import annotations

import dagster as dg

FULL_REFRESH_JOB_NAME = "segmart_full"

full_refresh_job = dg.define_asset_job(
    FULL_REFRESH_JOB_NAME,
    selection=dg.AssetSelection.all(),
    description=(
        "Ingest new landing files, check, build the dbt models (the daily-partitioned ones for "
        "the selected partitions, the days new in the raw layer without a partition), check the "
        "marts, publish."
    ),
)

NO_CHECKS_JOB_NAME = "segmart_no_checks"

no_checks_job = dg.define_asset_job(
    NO_CHECKS_JOB_NAME,
    selection=dg.AssetSelection.all().without_checks(),
    description="The full refresh without any check (GX or dbt tests): for benchmarks only.",
    tags={"segmart/checks": "off"},
)
