{#- Daily-partitioned incremental models: an incremental run deletes and rebuilds exactly the
    rows whose date column is in the window [start, end). The window comes from the
    environment (SEGMART_WINDOW_START / SEGMART_WINDOW_END, ISO dates, end exclusive; Dagster
    sets them from the partition range minus the look-back, pipelines/transform/partitions.py).
    An empty bound is open: no bounds at all rebuilds every row, like a full refresh.
    A model's own pair (SEGMART_WINDOW_START__<MODEL NAME>, _END__...), when either is set,
    replaces the run's: a catch-up rebuilds each dated entity's new days only, and a model
    whose entity has none gets an empty window (start = end: no row).
    Environment variables rather than --vars: a changed var forces dbt to re-parse the whole
    project, a changed env var only the files that read it.

    Usage in a model:
        {{ config(materialized='incremental',
                  incremental_strategy=segmart.window_strategy(),
                  partition_by=segmart.window_partition_by('spend_date'),
                  on_schema_change='fail',
                  meta={'window_column': 'spend_date'}) }}
        select ... {% if is_incremental() %} where {{ segmart.in_window('spend_date') }} {% endif %}
-#}

{#- The window bounds of the current model as a (start, end) pair of ISO date strings or
    none: its own pair when either is set, else the run's. -#}
{% macro window_bounds() -%}
    {%- set own = '__' ~ (model.name | upper) if model is defined and model.name else '' -%}
    {%- set start = (env_var('SEGMART_WINDOW_START' ~ own, '') if own else '') | trim -%}
    {%- set end = (env_var('SEGMART_WINDOW_END' ~ own, '') if own else '') | trim -%}
    {%- if not (start or end) -%}
        {%- set start = env_var('SEGMART_WINDOW_START', '') | trim -%}
        {%- set end = env_var('SEGMART_WINDOW_END', '') | trim -%}
    {%- endif -%}
    {%- for bound in [start, end] if bound and not modules.re.match('^\d{4}-\d{2}-\d{2}$', bound) -%}
        {%- do exceptions.raise_compiler_error(
            "SEGMART_WINDOW_START / SEGMART_WINDOW_END must be ISO dates (YYYY-MM-DD), got '"
            ~ bound ~ "'") -%}
    {%- endfor -%}
    {{ return((start or none, end or none)) }}
{%- endmacro %}

{#- Predicate: `column` lies in the window (true when the window is open on both sides).
    data_type: the column's type, 'date' or 'timestamp' (the bounds are cast to it, so the
    engine can prune on the column). -#}
{% macro in_window(column, data_type='date') -%}
    {%- set start, end = segmart.window_bounds() -%}
    {%- if start and end and start >= end -%}
        {{- return('1 = 0') -}}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- if start -%}
        {%- do parts.append(column ~ " >= cast('" ~ start ~ "' as " ~ data_type ~ ")") -%}
    {%- endif -%}
    {%- if end -%}
        {%- do parts.append(column ~ " < cast('" ~ end ~ "' as " ~ data_type ~ ")") -%}
    {%- endif -%}
    {{- parts | join(' and ') if parts else '1 = 1' -}}
{%- endmacro %}

{#- The incremental strategy of a window model: a delete of the window then an insert on
    DuckDB and other engines with DELETE; a dynamic partition overwrite on Spark, whose plain
    tables cannot delete rows (the table is partitioned by the window column there). -#}
{% macro window_strategy() -%}
    {{ return(adapter.dispatch('window_strategy', 'segmart')()) }}
{%- endmacro %}
{% macro default__window_strategy() -%}
    {{ return('window_overwrite') }}
{%- endmacro %}
{% macro spark__window_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{#- Physical partitioning by the window column where the strategy needs it (Spark). -#}
{% macro window_partition_by(column) -%}
    {{ return(adapter.dispatch('window_partition_by', 'segmart')(column)) }}
{%- endmacro %}
{% macro default__window_partition_by(column) -%}
    {{ return(none) }}
{%- endmacro %}
{% macro spark__window_partition_by(column) -%}
    {{ return([column]) }}
{%- endmacro %}

{#- Custom strategy 'window_overwrite' (dbt looks it up by name): delete the window's rows,
    insert the freshly built ones, in the materialization's transaction. Re-running a window
    gives the same rows: the strategy is idempotent. -#}
{% macro get_incremental_window_overwrite_sql(arg_dict) -%}
    {%- set column = (config.get('meta') or {}).get('window_column') -%}
    {%- if not column -%}
        {%- do exceptions.raise_compiler_error(
            "incremental_strategy 'window_overwrite' needs meta.window_column in the model config") -%}
    {%- endif -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ segmart.in_window(column) }};

    insert into {{ arg_dict['target_relation'] }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ arg_dict['temp_relation'] }}
    )
{%- endmacro %}
