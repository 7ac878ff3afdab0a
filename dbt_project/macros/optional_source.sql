{#- A source that another step writes (the k-means tables of source `ml`, written by the
    Dagster assets of pipelines/segments): the relation when it exists, else an empty
    relation with the given columns, so the models downstream compile and build (to zero
    rows) before the step has ever run, e.g. a plain `dbt build` or the first parse.
    `columns`: {name: data type in DuckDB's spelling}; the casts go through dbt.cast, which
    this project dispatches for Spark. -#}
{% macro optional_source(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set existing = none -%}
    {%- if execute -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
    {%- endif -%}
    {%- if existing is not none -%}
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
