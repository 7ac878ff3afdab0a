"""Serving layer: write-audit-publish of the checked marts for BI readers.

Public API: ``publish(home, marts) -> PublishReport``, ``postgres.publish_postgres(home, dsn)``
(psycopg is imported only with that module) and
``build_serving_asset(mart_keys)`` (the Dagster asset ``["serving", "marts"]``).
"""

from __future__ import annotations

from pipelines.serving.publish import PublishError, PublishReport, publish

__all__ = ["PublishError", "PublishReport", "publish"]
