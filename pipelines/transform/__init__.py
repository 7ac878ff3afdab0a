"""dbt transformation: staging → intermediate → marts, as Dagster assets."""
