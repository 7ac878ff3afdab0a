"""The daily schedule (created stopped: turn it on in the UI or with `dagster schedule start`)."""

from __future__ import annotations

import dagster as dg

from pipelines.automation.jobs import full_refresh_job

# At 06:00 UTC a run of the full job, as the landing sensor starts it: ingest new landing
# files, build the dbt project (the incremental models: the rows loaded since their last
# build, docs/incremental.md), check and publish. A missed tick is caught up by the next run,
# whatever day it is: what a run builds follows what was loaded, not the calendar.
daily_refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh",
    job=full_refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Every day at 06:00 UTC: ingest, the rows loaded since the last build of the "
        "incremental models, a refresh of every other mart, checks, publish."
    ),
)
