{#- Types written in DuckDB's spelling, as Spark SQL accepts them.

    Seeds' column_types and the marts' contracts (`data_type`) name `varchar`, which Spark's
    parser rejects without a length; Spark's name is `string`. Every other type of the
    project (bigint, integer, double, boolean, date, timestamp, decimal(p,s)) is spelt the
    same in both engines. -#}
{% macro spark_type(data_type) -%}
    {%- set normalised = data_type | string | trim | lower -%}
    {%- if normalised in ('varchar', 'text', 'char', 'character varying', 'bpchar') -%}
        string
    {%- else -%}
        {{ data_type }}
    {%- endif -%}
{%- endmacro %}

{#- dbt's cast() on Spark, used among others by the contract check (`cast(null as <data_type>)`
    for every contracted column): the type goes through spark_type first. -#}
{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ segmart.spark_type(type) }})
{%- endmacro %}
