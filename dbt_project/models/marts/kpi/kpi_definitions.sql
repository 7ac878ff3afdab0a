{#- The KPI catalogue (seed kpi_catalog) as a mart, so BI users find every KPI's formula,
    scope, unit and grain next to the data, and whether this home has the exports it needs:
    seed mart_inputs names the raw entities whose rows make rows of each mart (any one of
    them suffices), seed kpi_needs the entities a KPI needs on top of that (a cost KPI needs
    ad spend), seed landing_entities the words for each ("ad spend report"). Rows per entity
    are counted on the raw layer (every landed file's rows). -#}

{%- set raw_entities = [
    ('crm', 'accounts'), ('crm', 'contacts'), ('crm', 'leads'), ('crm', 'opportunities'),
    ('crm', 'orders'), ('crm', 'nps_responses'), ('web', 'events'), ('ads', 'ad_spend_daily'),
] %}

with

catalog as (

    select * from {{ ref('kpi_catalog') }}

),

mart_inputs as (

    select * from {{ ref('mart_inputs') }}

),

kpi_needs as (

    select * from {{ ref('kpi_needs') }}

),

landing_entities as (

    select * from {{ ref('landing_entities') }}

),

entity_rows as (

    {% for source_name, entity in raw_entities %}
    select '{{ entity }}' as entity, count(*) as raw_rows from {{ source(source_name, entity) }}
    {{ 'union all' if not loop.last }}
    {% endfor %}

),

entities as (

    select
        landing_entities.entity,
        landing_entities.export_label,
        coalesce(entity_rows.raw_rows, 0) > 0 as has_rows
    from landing_entities
    left join entity_rows
        on landing_entities.entity = entity_rows.entity

),

mart_status as (

    select
        mart_inputs.mart,
        {{ segmart.string_agg_distinct('mart_inputs.entity', "', '") }} as mart_inputs,
        max(case when entities.has_rows then 1 else 0 end) = 1 as has_inputs,
        {{ segmart.string_agg_distinct('entities.export_label', "' or '") }} as export_labels
    from mart_inputs
    inner join entities
        on mart_inputs.entity = entities.entity
    group by mart_inputs.mart

),

missing_needs as (

    select
        kpi_needs.kpi_name,
        {{ segmart.string_agg_distinct('entities.export_label', "' or '") }} as export_labels
    from kpi_needs
    inner join entities
        on kpi_needs.entity = entities.entity
    where not entities.has_rows
    group by kpi_needs.kpi_name

),

final as (

    select
        catalog.kpi_name,
        catalog.label,
        catalog.scope,
        catalog.unit,
        catalog.grain,
        catalog.mart,
        catalog.mart_column,
        catalog.formula,
        mart_status.mart_inputs,
        coalesce(mart_status.has_inputs, true) and missing_needs.kpi_name is null as has_data,
        case
            when not coalesce(mart_status.has_inputs, true)
                then 'no ' || mart_status.export_labels || ' landed: '
                    || catalog.mart || ' is empty'
            when missing_needs.kpi_name is not null
                then 'no ' || missing_needs.export_labels || ' landed: '
                    || catalog.kpi_name || ' has no value'
        end as data_note
    from catalog
    left join mart_status
        on catalog.mart = mart_status.mart
    left join missing_needs
        on catalog.kpi_name = missing_needs.kpi_name

)

select * from final
