"""Jobs: the whole refresh, and the ingest-and-onwards run a landing sensor starts."""

from __future__ import annotations

import dagster as dg

FULL_REFRESH_JOB_NAME = "segmart_full"

full_refresh_job = dg.define_asset_job(
    FULL_REFRESH_JOB_NAME,
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, check, build the dbt models, check the marts, publish.",
)

NO_CHECKS_JOB_NAME = "segmart_no_checks"

no_checks_job = dg.define_asset_job(
    NO_CHECKS_JOB_NAME,
    selection=dg.AssetSelection.all().without_checks(),
    description="The full refresh without any check (GX or dbt tests): for benchmarks only.",
    tags={"segmart/checks": "off"},
)
