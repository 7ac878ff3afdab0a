"""Benchmark harness: the pipeline against a DuckDB floor and pandas (method: docs/benchmarks.md; numbers: benchmarks/results/)."""
