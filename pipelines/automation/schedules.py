"""The daily schedule (created stopped: turn it on in the UI or with `dagster schedule start`)."""

from __future__ import annotations

import dagster as dg

from pipelines.automation.jobs import full_refresh_job

daily_refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh",
    job=full_refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Full refresh every day at 06:00 UTC.",
)
