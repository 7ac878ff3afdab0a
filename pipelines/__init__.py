"""segmart: ELT pipeline for marketing data (Dagster + dbt + DuckDB + Great Expectations)."""
