"""Ingestion: landing files → typed raw Parquet + quarantine, declaratively mapped.

Public API: :func:`run_ingest` (load new landing files), :func:`check_file` (dry run of one
file for ``segmart mappings check``), and the Dagster assets in ``pipelines.ingest.assets``.
"""

from __future__ import annotations

from pipelines.ingest.check import MappingCheck, check_file
from pipelines.ingest.loader import FileResult, IngestReport, run_ingest

__all__ = ["FileResult", "IngestReport", "MappingCheck", "check_file", "run_ingest"]
