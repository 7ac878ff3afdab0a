"""Serving layer: write-audit-publish of the checked marts for BI readers.

Public API: ``publish(home, marts) -> PublishReport``, ``publish_postgres(home, dsn)`` and
``build_serving_asset(mart_keys)`` (the Dagster asset ``["serving", "marts"]``).
"""

from __future__ import annotations

from pipelines.serving.publish import PublishError, PublishReport, publish

__all__ = ["PublishError", "PublishReport", "publish", "publish_postgres"]


def __getattr__(name: str):
    if name == "publish_postgres":  # psycopg only when asked for
        from pipelines.serving.postgres import publish_postgres

        return publish_postgres
    raise AttributeError(name)
