{{ config(
    materialized=segmart.incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_line_key',
    on_schema_change='fail',
) }}

{#- Order lines in the reporting currency (FX of the order date; a line without currency is
    taken as already in the reporting currency), gross profit (the line cost when known, else
    var('default_gross_margin') × net amount) and the channel group of the order's UTM tags
    (the rules of int_traffic_sources_classified, macros/traffic_sources.sql).
    No person: the customer is resolved downstream (int_orders_enriched), because identity
    changes when any later data links an e-mail to a person.
    Incremental on load time (macros/incremental/load_time.sql): every column is a function
    of the line alone (FX of its date, seed rules), so a run builds the lines loaded since the
    last build and replaces them by order_line_key (a re-exported line replaces its earlier
    version, whatever its date). -#}

with

lines as (

    select * from {{ ref('stg_crm__orders') }}
    {%- if is_incremental() %}
    where {{ segmart.loaded_since_last_build() }}
    {%- endif %}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

observed as (

    select distinct
        coalesce(utm_source, '(not set)') as traffic_source_raw,
        coalesce(utm_medium, '(not set)') as traffic_medium_raw,
        coalesce(utm_campaign, '(not set)') as traffic_campaign_raw
    from lines
    where utm_source is not null or utm_medium is not null

),

{{ segmart.traffic_classification_ctes('observed', 'classified') }},

converted as (

    select
        lines.*,
        coalesce(lines.currency_code, upper('{{ var("reporting_currency") }}')) as currency_code_filled,
        case
            when lines.currency_code is null
                or lines.currency_code = upper('{{ var("reporting_currency") }}') then 1.0
            else fx.rate_to_reporting
        end as fx_rate
    from lines
    left join fx
        on cast(lines.ordered_at as date) = fx.date_day
        and lines.currency_code = fx.currency_code

),

final as (

    select
        converted.order_id,
        converted.order_line_id,
        converted.order_id || '-' || converted.order_line_id as order_line_key,
        converted.customer_id,
        converted.email_hash,
        converted.account_id,
        converted.email_domain,
        converted.ordered_at,
        cast(converted.ordered_at as date) as order_date,
        converted.product_id,
        converted.product_name,
        converted.category,
        converted.quantity,
        converted.unit_price,
        converted.currency_code_filled as currency_code,
        converted.fx_rate,
        converted.net_amount,
        converted.net_amount * converted.fx_rate as net_amount_rc,
        converted.discount_amount * converted.fx_rate as discount_amount_rc,
        converted.tax_amount * converted.fx_rate as tax_amount_rc,
        converted.cost_amount * converted.fx_rate as cost_amount_rc,
        converted.cost_amount is not null as has_known_cost,
        case
            when converted.cost_amount is not null
                then (converted.net_amount - converted.cost_amount) * converted.fx_rate
            else converted.net_amount * converted.fx_rate * {{ var('default_gross_margin') }}
        end as gross_profit_rc,
        converted.sales_channel,
        converted.utm_source,
        converted.utm_medium,
        converted.utm_campaign,
        classified.channel_group as utm_channel_group,
        converted.is_return,
        converted.is_cancelled,
        converted.country_code,
        converted.order_status,
        converted.ingested_at
    from converted
    left join classified
        on coalesce(converted.utm_source, '(not set)') = classified.traffic_source_raw
        and coalesce(converted.utm_medium, '(not set)') = classified.traffic_medium_raw
        and coalesce(converted.utm_campaign, '(not set)') = classified.traffic_campaign_raw

)

select * from final
