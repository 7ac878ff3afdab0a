"""Benchmark harness: the pipeline against a DuckDB floor and pandas (see README.md)."""
