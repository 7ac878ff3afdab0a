{#- One row per order (reporting currency): gross sales, returns inside the order, net
    revenue, cost and gross profit, the customer's purchase sequence and acquisition flag,
    the order's own UTM channel and campaign, and the customer's derived motion.
    is_purchase: not cancelled, not a return-only order, net revenue > 0 — only purchases
    count as orders in KPIs; return orders feed the return rate. -#}

with

orders as (

    select * from {{ ref('int_orders') }}

),

customers_motion as (

    select customer_key, motion from {{ ref('int_customers_motion') }}

),

campaign_ids as (

    select
        lower(campaign_id) as campaign_id,
        min(campaign) as campaign
    from {{ ref('dim_campaigns') }}
    group by lower(campaign_id)

),

final as (

    select
        orders.order_id,
        orders.customer_key,
        orders.customer_key as person_key,
        orders.customer_id,
        orders.account_id,
        orders.ordered_at,
        orders.order_date,
        {{ segmart.month_start('orders.ordered_at') }} as order_month,
        orders.currency_code,
        orders.order_lines,
        orders.gross_sales_rc as gross_sales,
        orders.returns_rc as returns_amount,
        orders.net_amount_rc as net_revenue,
        orders.cost_amount_rc as cost_amount,
        orders.gross_profit_rc as gross_profit,
        orders.is_purchase,
        orders.is_return_order,
        orders.has_returns,
        orders.is_cancelled,
        orders.customer_order_number,
        coalesce(orders.customer_order_number = 1, false) as is_first_order,
        orders.sales_channel,
        orders.utm_source,
        orders.utm_medium,
        coalesce(campaign_ids.campaign, orders.utm_campaign) as utm_campaign,
        orders.utm_channel_group as utm_channel,
        coalesce(customers_motion.motion, 'unknown') as motion,
        orders.country_code
    from orders
    left join customers_motion
        on orders.customer_key = customers_motion.customer_key
    left join campaign_ids
        on orders.utm_campaign = campaign_ids.campaign_id

)

select * from final
