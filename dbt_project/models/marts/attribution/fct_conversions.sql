{#- Every conversion that attribution credits: B2C purchases, won deals and leads, with the
    revenue and gross profit (reporting currency) it brings and the window in which its
    touchpoints count. Won deals look back from the deal's creation, so the whole sales
    cycle is covered; orders and leads look back from the conversion itself. -#}

{%- set lookback_days = var('attribution_lookback_days') %}

with

orders as (

    select * from {{ ref('fct_orders') }}
    where is_purchase

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}
    where is_won

),

leads as (

    select * from {{ ref('fct_leads') }}

),

order_conversions as (

    select
        'order' as conversion_type,
        order_id as conversion_id,
        person_key,
        customer_key,
        account_id,
        ordered_at as converted_at,
        cast({{ segmart.add_days('ordered_at', -lookback_days) }} as timestamp) as window_start_at,
        net_revenue as revenue,
        gross_profit,
        is_first_order as is_new_customer,
        utm_channel as own_channel,
        utm_campaign as own_campaign,
        motion
    from orders

),

deal_conversions as (

    select
        'won_deal' as conversion_type,
        opportunity_id as conversion_id,
        person_key,
        cast(null as {{ dbt.type_string() }}) as customer_key,
        account_id,
        closed_at as converted_at,
        cast({{ segmart.add_days('created_at', -lookback_days) }} as timestamp) as window_start_at,
        tcv as revenue,
        gross_profit,
        is_first_won_deal as is_new_customer,
        channel as own_channel,
        cast(null as {{ dbt.type_string() }}) as own_campaign,
        motion
    from opportunities
    where closed_at is not null

),

lead_conversions as (

    select
        'lead' as conversion_type,
        lead_id as conversion_id,
        person_key,
        cast(null as {{ dbt.type_string() }}) as customer_key,
        account_id,
        created_at as converted_at,
        cast({{ segmart.add_days('created_at', -lookback_days) }} as timestamp) as window_start_at,
        cast(0 as double) as revenue,
        cast(0 as double) as gross_profit,
        false as is_new_customer,
        case when channel <> 'Unassigned' then channel end as own_channel,
        campaign as own_campaign,
        motion
    from leads

),

unioned as (

    select * from order_conversions
    union all
    select * from deal_conversions
    union all
    select * from lead_conversions

),

final as (

    select
        conversion_type || ':' || conversion_id as conversion_key,
        conversion_type,
        conversion_id,
        person_key,
        customer_key,
        account_id,
        converted_at,
        {{ segmart.month_start('converted_at') }} as conversion_month,
        window_start_at,
        coalesce(revenue, 0) as revenue,
        coalesce(gross_profit, 0) as gross_profit,
        coalesce(is_new_customer, false) as is_new_customer,
        own_channel,
        own_campaign,
        motion
    from unioned

)

select * from final
