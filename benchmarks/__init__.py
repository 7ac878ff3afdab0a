"""Benchmark harness: the pipeline against a DuckDB floor and pandas (see docs/benchmarks.md and benchmarks/README.md)."""
