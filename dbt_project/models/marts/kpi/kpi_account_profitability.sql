{#- Account profitability, one row per account with revenue: won deals (TCV, gross profit at
    var default_gross_margin) plus the account's own orders (net revenue, gross profit from
    cost or the default margin), lifetime to the as-of date, with the account's segment
    columns and NPS so profitability can be compared across segments. Acquisition cost is
    not allocated to accounts (spend is per channel, not per account). -#}

with

accounts as (

    select * from {{ ref('dim_accounts') }}

),

deals as (

    select
        account_id,
        sum(case when is_won then 1 else 0 end) as won_deals,
        sum(case when is_won then tcv else 0 end) as won_tcv,
        sum(case when is_won then acv else 0 end) as won_acv,
        sum(case when is_won then gross_profit else 0 end) as deal_gross_profit,
        min(case when is_won then closed_at end) as first_won_at,
        avg(case when is_won then cast(sales_cycle_days as double) end) as sales_cycle_days_mean
    from {{ ref('fct_opportunities') }}
    where account_id is not null
    group by account_id

),

orders as (

    select
        account_id,
        sum(case when is_purchase then 1 else 0 end) as orders,
        sum(net_revenue) as order_net_revenue,
        sum(gross_profit) as order_gross_profit
    from {{ ref('fct_orders') }}
    where account_id is not null and not is_cancelled
    group by account_id

),

nps as (

    select
        account_id,
        count(*) as nps_responses,
        {{ segmart.nps() }} as nps
    from {{ ref('fct_nps_responses') }}
    where account_id is not null
    group by account_id

),

final as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.motion,
        accounts.firmographic_segment,
        accounts.value_tier,
        accounts.is_key_account,
        cast(coalesce(deals.won_deals, 0) as bigint) as won_deals,
        cast(coalesce(deals.won_tcv, 0) as double) as won_tcv,
        cast(coalesce(deals.won_acv, 0) as double) as won_acv,
        cast(coalesce(orders.orders, 0) as bigint) as orders,
        cast(coalesce(orders.order_net_revenue, 0) as double) as order_net_revenue,
        cast(coalesce(deals.won_tcv, 0) + coalesce(orders.order_net_revenue, 0) as double)
            as total_revenue,
        cast(coalesce(deals.deal_gross_profit, 0) + coalesce(orders.order_gross_profit, 0) as double)
            as gross_profit,
        {{ segmart.safe_divide(
            'coalesce(deals.deal_gross_profit, 0) + coalesce(orders.order_gross_profit, 0)',
            'coalesce(deals.won_tcv, 0) + coalesce(orders.order_net_revenue, 0)',
        ) }} as gross_margin,
        deals.first_won_at,
        cast(deals.sales_cycle_days_mean as double) as sales_cycle_days_mean,
        cast(coalesce(nps.nps_responses, 0) as bigint) as nps_responses,
        nps.nps
    from accounts
    left join deals
        on accounts.account_id = deals.account_id
    left join orders
        on accounts.account_id = orders.account_id
    left join nps
        on accounts.account_id = nps.account_id
    where deals.won_deals > 0 or orders.orders > 0

)

select * from final
