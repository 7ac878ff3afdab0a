{#- Order lines in the reporting currency (FX of the order date; a line without currency is
    taken as already in the reporting currency). Gross profit uses the line cost when known,
    else var('default_gross_margin') × net amount. customer_key is the resolved person of the
    customer_id, else of the order e-mail; null for guest orders without either (those stay
    in revenue facts but not in customer marts). -#}

with

lines as (

    select * from {{ ref('stg_crm__orders') }}

),

identity as (

    select * from {{ ref('int_identity') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

classified as (

    select * from {{ ref('int_traffic_sources_classified') }}

),

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
        coalesce(by_customer.person_key, by_email.person_key) as customer_key,
        converted.customer_id,
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
        converted.order_status
    from converted
    left join identity as by_customer
        on by_customer.identifier_type = 'customer_id'
        and converted.customer_id = by_customer.identifier_value
    left join identity as by_email
        on by_email.identifier_type = 'email_hash'
        and converted.email_hash = by_email.identifier_value
    left join classified
        on coalesce(converted.utm_source, '(not set)') = classified.traffic_source_raw
        and coalesce(converted.utm_medium, '(not set)') = classified.traffic_medium_raw
        and coalesce(converted.utm_campaign, '(not set)') = classified.traffic_campaign_raw

)

select * from final
