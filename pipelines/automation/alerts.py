"""Run-failure alerts: a log line, a JSON line in {home}/state/alerts.log, and a webhook if set."""

import json
import os
import urllib.request
from datetime import UTC, datetime

import dagster as dg

from pipelines.core.settings import home_paths


def alert_json(record: dict) -> str:
    """The alert as JSON text only: every value a JSON string or number, and ``<``, ``>``,
    ``&`` (and non-ASCII) as ``\\u`` escapes, so that export text in an error message (a
    campaign name such as ``<script>…``) stays text in whatever renders the payload."""
    text = json.dumps(record, sort_keys=True, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_alert(record: dict, home: str | None = None) -> None:
    paths = home_paths(home)
    paths.state.mkdir(parents=True, exist_ok=True)
    with (paths.state / "alerts.log").open("a", encoding="utf-8") as handle:
        handle.write(alert_json(record) + "\n")
    url = os.environ.get("SEGMART_ALERT_WEBHOOK_URL")
    if url:
        request = urllib.request.Request(
            url,
            data=alert_json(record).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - URL is the operator's own


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes an alert for every failed run (log, alerts.log, optional webhook).",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run.run_id,
        "job": run.job_name,
        "error": context.failure_event.message,
    }
    context.log.error(f"segmart run failed: {record}")
    write_alert(record)
