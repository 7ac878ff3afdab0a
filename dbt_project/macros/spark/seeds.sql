{#- Seeds on Spark. The seed YAMLs declare `column_types` in DuckDB's spelling (`varchar`),
    which Spark's parser rejects without a length. These overrides of dbt-spark's seed macros
    (same bodies as dbt-spark 1.11, root-project macros win the dispatch) pass every declared
    type through spark_type (types.sql) first. -#}

{#- The Spark type of seed column `index`: its declared column_types entry, else inferred. -#}
{% macro spark_seed_column_type(model, agate_table, index) -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set inferred_type = adapter.convert_type(agate_table, index) -%}
    {%- set col_name = agate_table.column_names[index] -%}
    {{- segmart.spark_type(column_override.get(col_name, inferred_type)) -}}
{%- endmacro %}

{% macro spark__create_csv_table(model, agate_table) %}
  {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}

  {% set sql %}
    create table {{ this.render() }} (
        {%- for col_name in agate_table.column_names -%}
            {%- set column_name = (col_name | string) -%}
            {{ adapter.quote_seed_column(column_name, quote_seed_column) }} {{ segmart.spark_seed_column_type(model, agate_table, loop.index0) }} {%- if not loop.last -%}, {%- endif -%}
        {%- endfor -%}
    )
    {{ file_format_clause() }}
    {{ partition_cols(label="partitioned by") }}
    {{ clustered_cols(label="clustered by") }}
    {{ location_clause() }}
    {{ comment_clause() }}
  {% endset %}

  {% call statement('_') -%}
    {{ sql }}
  {%- endcall %}

  {{ return(sql) }}
{% endmacro %}

{#- Seed rows are rendered as SQL literals, not bound parameters: dbt-spark's session
    connection substitutes bindings without escaping (a quote in `people's republic of china`
    breaks the statement) and turns null into the string 'None'. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
  {% set batch_size = get_batch_size() %}
  {% set types = [] %}
  {% for col_name in agate_table.column_names %}
      {% do types.append(segmart.spark_seed_column_type(model, agate_table, loop.index0)) %}
  {% endfor %}

  {% set statements = [] %}

  {% for chunk in agate_table.rows | batch(batch_size) %}
      {% set sql %}
          insert into {{ this.render() }} values
          {% for row in chunk -%}
              ({%- for value in row -%}
                    cast({{ segmart.spark_literal(value) }} as {{ types[loop.index0] }})
                  {%- if not loop.last%},{%- endif %}
              {%- endfor -%})
              {%- if not loop.last%},{%- endif %}
          {%- endfor %}
      {% endset %}

      {% do adapter.add_query(sql, abridge_sql_log=True) %}

      {% if loop.index0 == 0 %}
          {% do statements.append(sql) %}
      {% endif %}
  {% endfor %}

  {# Return SQL so we can render it out into the compiled files #}
  {{ return(statements[0]) }}
{% endmacro %}

{#- A Python value of a seed cell as a Spark SQL literal: null, true/false, a number, or a
    quoted string (backslashes and quotes escaped; dates and datetimes in ISO form). -#}
{% macro spark_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true -%}
        true
    {%- elif value is sameas false -%}
        false
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
