{#- A source that another step writes (the k-means tables of source `ml`, written by the
    Dagster assets of pipelines/segments): the relation when it exists, else an empty
    relation with the given columns, so the models downstream compile and build (to zero
    rows) before the step has ever run, e.g. a plain `dbt build` or the first parse.
    `columns`: {name: data type in DuckDB's spelling}; the casts go through dbt.cast, which
    this project dispatches for Spark. -#}
{% macro optional_source(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set existing = none -%}
    {%- if execute and not segmart.is_fixture_relation(relation) -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
    {%- endif -%}
    {%- if existing is not none or (execute and segmart.is_fixture_relation(relation)) -%}
        {{ relation }}
    {%- else -%}
        (
            select
            {%- for name, data_type in columns.items() %}
                {{ dbt.cast('null', data_type) }} as {{ name }}{{ ',' if not loop.last }}
            {%- endfor %}
            where 1 = 0
        )
    {%- endif -%}
{%- endmacro %}

{#- Whether the relation of a source table exists (at execution; false while parsing): lets a
    model tell "the step that writes it has not run" from "it ran and wrote zero rows". -#}
{% macro source_exists(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if segmart.is_fixture_relation(relation) -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=relation.database, schema=relation.schema,
        identifier=relation.identifier) is not none) }}
{%- endmacro %}

{#- In a dbt unit test a source given as input is a fixture CTE without schema: it exists
    (adapter.get_relation cannot look it up). -#}
{% macro is_fixture_relation(relation) -%}
    {{ return(relation.schema is none or relation.identifier is none) }}
{%- endmacro %}
