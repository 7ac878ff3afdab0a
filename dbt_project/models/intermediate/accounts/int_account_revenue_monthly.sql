{#- Revenue booked with each account per calendar month, reporting currency: won deals by
    close month (TCV) plus net order revenue of the account's orders (order account_id, else
    the account of the ordering person). Basis of value tiers and growth trends. -#}

with

opportunities as (

    select * from {{ ref('int_opportunities_enriched') }}

),

orders as (

    select * from {{ ref('int_orders') }}

),

people as (

    select * from {{ ref('int_people_resolved') }}

),

won_deals as (

    select
        account_id,
        {{ segmart.month_start('closed_at') }} as month_start,
        amount_rc as revenue_rc,
        0.0 as order_revenue_rc
    from opportunities
    where is_won and account_id is not null and closed_at is not null

),

account_orders as (

    select
        coalesce(orders.account_id, people.account_id) as account_id,
        {{ segmart.month_start('orders.ordered_at') }} as month_start,
        0.0 as revenue_rc,
        orders.net_amount_rc as order_revenue_rc
    from orders
    left join people
        on orders.customer_key = people.person_key
    where not orders.is_cancelled
        and coalesce(orders.account_id, people.account_id) is not null

),

unioned as (

    select * from won_deals
    union all
    select * from account_orders

),

final as (

    select
        account_id,
        month_start,
        sum(revenue_rc) as won_deal_revenue_rc,
        sum(order_revenue_rc) as order_revenue_rc,
        sum(revenue_rc) + sum(order_revenue_rc) as revenue_rc
    from unioned
    group by account_id, month_start

)

select * from final
