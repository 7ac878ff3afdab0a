"""Jobs: the whole refresh, and the ingest-and-onwards run a landing sensor starts.

Every asset is unpartitioned. A run ingests new landing files and builds the dbt project in
one ``dbt build`` (and one more after the k-means step); the incremental models build the rows
loaded since their last build (docs/incremental.md). Tagged `segmart/full_refresh=true`
(`segmart run --full-refresh`, or the tag set in the launchpad) they are rebuilt completely.
"""

from __future__ import annotations

import dagster as dg

FULL_REFRESH_JOB_NAME = "segmart_full"

full_refresh_job = dg.define_asset_job(
    FULL_REFRESH_JOB_NAME,
    selection=dg.AssetSelection.all(),
    description=(
        "Ingest new landing files, check, build the dbt models (the incremental ones: the rows "
        "loaded since their last build; tag segmart/full_refresh=true rebuilds them), check "
        "the marts, publish."
    ),
)

NO_CHECKS_JOB_NAME = "segmart_no_checks"

no_checks_job = dg.define_asset_job(
    NO_CHECKS_JOB_NAME,
    selection=dg.AssetSelection.all().without_checks(),
    description="The full refresh without any check (GX or dbt tests): for benchmarks only.",
    tags={"segmart/checks": "off"},
)
