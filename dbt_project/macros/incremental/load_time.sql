{#- Incremental models keyed on load time (docs/incremental.md).

    Every raw row carries the time it was loaded (_ingested_at, `ingested_at` from staging on).
    An incremental model keeps that column; a run builds only the rows loaded after the newest
    one it already holds and replaces them by their unique key with dbt's own `delete+insert`
    strategy (a re-exported row replaces its earlier version, wherever its date moved).
    `dbt build --full-refresh` rebuilds everything.

    Usage in a model:
        {{ config(materialized=segmart.incremental_materialization(),
                  incremental_strategy='delete+insert', unique_key='event_id',
                  on_schema_change='fail') }}
        select ... from {{ ref('stg_web__events') }}
        {% if is_incremental() %} where {{ segmart.loaded_since_last_build() }} {% endif %}
-#}

{#- Predicate: the row's load time is after the newest one the model already holds (every
    row while the model is still empty). `held_column` names the load time in the model itself
    when the input calls it otherwise (raw `_ingested_at`, `ingested_at` from staging on). -#}
{% macro loaded_since_last_build(column='ingested_at', held_column=none) -%}
    {%- set held = held_column or column -%}
    ((select max({{ held }}) from {{ this }}) is null
        or {{ column }} > (select max({{ held }}) from {{ this }}))
{%- endmacro %}

{#- The materialization of an incremental model: `incremental` on engines whose tables can
    delete rows (DuckDB, PostgreSQL, ...); a plain table on Spark, whose Parquet tables
    cannot (dbt-spark's delete-free strategies replace whole partitions, not keys). -#}
{% macro incremental_materialization() -%}
    {{ return(adapter.dispatch('incremental_materialization', 'segmart')()) }}
{%- endmacro %}
{% macro default__incremental_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}
{% macro spark__incremental_materialization() -%}
    {{ return('table') }}
{%- endmacro %}
