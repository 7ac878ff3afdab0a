"""The daily schedule (created stopped: turn it on in the UI or with `dagster schedule start`)."""

from __future__ import annotations

import dagster as dg

from pipelines.automation.jobs import full_refresh_job

# A partitioned schedule of the full job: at 06:00 UTC it requests the partition of the day
# that just ended (the newest daily partition). That run ingests new landing files, rebuilds
# the daily-partitioned dbt models for the day plus the look-back days before it
# (partitions.lookback_days) and everything unpartitioned (dimensions, KPI marts), checks and
# publishes. A missed tick is not caught up; backfill the missing days instead.
daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    full_refresh_job,
    name="daily_refresh",
    hour_of_day=6,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Every day at 06:00 UTC: ingest, the previous day's partition of the dated facts "
        "(look-back included) and a refresh of every unpartitioned mart."
    ),
)
