{#- Make the raw layer readable as dbt sources before models run.

    DuckDB reads each source straight from its Parquet files (`meta.external_location` in the
    sources YAML), so there is nothing to do. Spark needs a table in its catalog: for every
    source of this project, an external (unmanaged) Parquet table over the entity's raw folder,
    typed from the contract (raw_schemas), so an entity without data files still has its
    columns. Dropping such a table only drops catalog metadata, never the Parquet files.

    Run it as its own step, `dbt run-operation register_raw_sources`, or as an on-run-start
    hook. The folder of an entity is var `spark_raw_location` with `{name}` replaced by the
    entity (default `$SEGMART_HOME/raw/{name}`): a path every Spark executor can read,
    e.g. `s3a://bucket/segmart/raw/{name}` or `abfss://...` on a cluster. -#}
{% macro register_raw_sources() -%}
    {{ return(adapter.dispatch('register_raw_sources', 'segmart')()) }}
{%- endmacro %}

{% macro default__register_raw_sources() -%}
    {{ log('register_raw_sources: ' ~ target.type ~ ' reads the raw Parquet files through '
           ~ 'meta.external_location; nothing to register', info=true) }}
{%- endmacro %}

{% macro spark__register_raw_sources() -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set schemas = segmart.raw_schemas() -%}
    {%- set template = var('spark_raw_location',
        env_var('SEGMART_HOME', '../data').rstrip('/') ~ '/raw/{name}') -%}
    {#- raw entities only: they carry meta.external_location (source `ml` is written by the
        k-means assets of pipelines/segments, not read from Parquet) -#}
    {%- set sources = graph.sources.values() | selectattr('package_name', 'equalto', project_name)
        | selectattr('source_meta.external_location', 'defined')
        | sort(attribute='unique_id') | list -%}
    {%- for schema in sources | map(attribute='schema') | unique -%}
        {%- call statement('create_schema_' ~ schema) -%}
            create schema if not exists {{ schema }}
        {%- endcall -%}
    {%- endfor -%}
    {%- set created = [] -%}
    {%- for node in sources -%}
        {%- if node.name not in schemas or schemas[node.name].source != node.source_name -%}
            {{ exceptions.raise_compiler_error(
                'source ' ~ node.source_name ~ '.' ~ node.name ~ ' is not a raw entity of '
                ~ 'pipelines/core/entities.yaml (rerun scripts/spark/raw_schemas.py?)') }}
        {%- endif -%}
        {%- set location = template | replace('{name}', node.name) -%}
        {%- do segmart.spark__register_parquet_table(
            node.schema, node.identifier, schemas[node.name].columns, location) -%}
        {%- do created.append(node.schema ~ '.' ~ node.identifier) -%}
    {%- endfor -%}
    {{ log('register_raw_sources: ' ~ created | length ~ ' raw tables registered ('
           ~ created | join(', ') ~ ') from ' ~ template, info=true) }}
{%- endmacro %}

{#- (Re)create `schema.identifier` (the schema must exist) as an external Parquet table over
    `location`. An existing relation of that name is dropped first: a view or an external
    table, so only catalog metadata goes. -#}
{% macro spark__register_parquet_table(schema, identifier, columns, location) -%}
    {%- set existing = adapter.get_relation(database=none, schema=schema, identifier=identifier) -%}
    {%- if existing is not none -%}
        {%- do adapter.drop_relation(existing) -%}
    {%- endif -%}
    {%- call statement('register_' ~ schema ~ '_' ~ identifier) -%}
        create table {{ schema }}.{{ identifier }} (
            {%- for name, data_type in columns %}
            {{ name }} {{ data_type }}{{ ',' if not loop.last }}
            {%- endfor %}
        )
        using parquet
        location '{{ location | replace("'", "\\'") }}'
    {%- endcall -%}
{%- endmacro %}
