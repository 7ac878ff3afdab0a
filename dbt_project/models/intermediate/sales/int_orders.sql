{{ config(materialized='table') }}

{#- One row per order. An order whose lines are all returns (negative, e.g. a `C` invoice of
    Online Retail) is a return order; is_purchase marks orders that count as purchases
    (not cancelled, not a return order, net amount > 0). customer_order_number numbers a
    customer's purchases in time order (ties by order_id). -#}

with

lines as (

    select * from {{ ref('int_orders_enriched') }}

),

orders as (

    select
        order_id,
        max(customer_key) as customer_key,
        max(customer_id) as customer_id,
        max(account_id) as account_id,
        min(ordered_at) as ordered_at,
        max(currency_code) as currency_code,
        count(*) as order_lines,
        -- order totals rounded to 1e-9: a fully refunded order nets to exactly 0 instead of
        -- ±1e-13 depending on the summation order, so is_purchase is the same on every run;
        -- `+ 0.0` turns the -0.0 that rounding a tiny negative leaves into 0.0
        round(sum(case when net_amount_rc > 0 then net_amount_rc else 0 end), 9) + 0.0 as gross_sales_rc,
        round(-sum(case when net_amount_rc < 0 then net_amount_rc else 0 end), 9) + 0.0 as returns_rc,
        round(sum(net_amount_rc), 9) + 0.0 as net_amount_rc,
        round(sum(cost_amount_rc), 9) + 0.0 as cost_amount_rc,
        round(sum(gross_profit_rc), 9) + 0.0 as gross_profit_rc,
        min(case when is_return then 1 else 0 end) = 1 as is_return_order,
        max(case when is_return then 1 else 0 end) = 1 as has_returns,
        max(case when is_cancelled then 1 else 0 end) = 1 as is_cancelled,
        max(sales_channel) as sales_channel,
        max(utm_source) as utm_source,
        max(utm_medium) as utm_medium,
        max(utm_campaign) as utm_campaign,
        max(utm_channel_group) as utm_channel_group,
        max(country_code) as country_code
    from lines
    group by order_id

),

flagged as (

    select
        *,
        cast(ordered_at as date) as order_date,
        not is_cancelled and not is_return_order and net_amount_rc > 0 as is_purchase
    from orders

),

final as (

    select
        *,
        case when is_purchase and customer_key is not null then
            cast(row_number() over (
                partition by customer_key, is_purchase order by ordered_at, order_id
            ) as bigint)
        end as customer_order_number
    from flagged

)

select * from final
