"""Reliability tests reuse the ingestion helpers: a temporary home with a test mapping."""

from tests.ingest.conftest import home  # noqa: F401  (pytest fixture)
