{#- The KPI catalogue (seed kpi_catalog) as a mart, so BI users find every KPI's formula,
    scope, unit and grain next to the data. -#}

with

catalog as (

    select * from {{ ref('kpi_catalog') }}

),

final as (

    select
        kpi_name,
        label,
        scope,
        unit,
        grain,
        mart,
        mart_column,
        formula
    from catalog

)

select * from final
