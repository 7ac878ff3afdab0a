-- The floor: the main marts computed straight from the landing files by one DuckDB script, no
-- orchestration, no raw layer, no checks. `${landing}` and `${seeds}` are substituted by
-- benchmarks/floor_run.py. Written for the demo exports' shapes (see
-- generator/SHAPES.md), as a team hand-writing SQL for its own exports would: the
-- vendor quirks are handled inline. The outputs mirror the pipeline's marts on the columns the
-- agreement check compares (benchmarks/agreement.py).

-- Reference data: the same FX seed the dbt project uses, forward-filled per day.
create or replace table fx_daily as
with rates as (
    select cast(rate_date as date) as valid_from, upper(trim(currency)) as currency_code,
        cast(rate_to_usd as double) as rate_to_usd
    from read_csv('${seeds}/fx_rates.csv', header = true, all_varchar = true)
    where cast(rate_to_usd as double) > 0
),
validity as (
    select *, lead(valid_from) over (partition by currency_code order by valid_from) as valid_to
    from rates
),
days as (
    select cast(d as date) as date_day
    from range(date '2022-01-01', date '2026-01-01', interval 1 day) as t(d)
)
select days.date_day, validity.currency_code, validity.rate_to_usd
from days
join validity
    on days.date_day >= validity.valid_from
    and (validity.valid_to is null or days.date_day < validity.valid_to);

-- Shopify orders: one row per line item, order-level columns on the order's first row only.
create or replace table order_lines as
with src as (
    select * from read_csv('${landing}/**/crm/shopify/orders_export_*.csv',
        header = true, all_varchar = true, quote = '"', escape = '"', strict_mode = false)
),
filled as (
    select
        "Name" as order_id,
        max(nullif(trim("Created at"), '')) over (partition by "Name") as created_at_text,
        max(nullif(trim("Currency"), '')) over (partition by "Name") as currency_code,
        max(nullif(trim("Customer ID"), '')) over (partition by "Name") as customer_id,
        max(nullif(lower(trim("Email")), '')) over (partition by "Name") as email,
        max(nullif(lower(trim("Financial Status")), '')) over (partition by "Name") as status,
        try_cast("Lineitem quantity" as double) as quantity,
        try_cast("Lineitem price" as double) as unit_price,
        coalesce(try_cast(nullif(trim("Lineitem discount"), '') as double), 0) as discount,
        try_cast(nullif(trim("Lineitem cost"), '') as double) as unit_cost,
        lower("Lineitem fulfillment status") = 'returned' as returned_flag
    from src
    where nullif(trim("Name"), '') is not null
),
typed as (
    select *,
        timezone('UTC', try_strptime(created_at_text, '%Y-%m-%d %H:%M:%S %z')) as ordered_at
    from filled
)
select
    typed.order_id, typed.customer_id, typed.email, typed.ordered_at,
    cast(typed.ordered_at as date) as order_date, typed.status,
    typed.quantity < 0 or coalesce(typed.returned_flag, false) as is_return,
    (typed.quantity * typed.unit_price - typed.discount)
        * case when typed.currency_code = 'USD' then 1.0 else fx.rate_to_usd end as net_amount_rc,
    case when typed.unit_cost is null
        then (typed.quantity * typed.unit_price - typed.discount) * ${default_gross_margin}
        else (typed.quantity * typed.unit_price - typed.discount - typed.quantity * typed.unit_cost)
    end * case when typed.currency_code = 'USD' then 1.0 else fx.rate_to_usd end as gross_profit_rc
from typed
left join fx_daily as fx
    on fx.date_day = cast(typed.ordered_at as date) and fx.currency_code = typed.currency_code
where typed.ordered_at is not null and typed.quantity is not null and typed.unit_price is not null;

-- Identity, the pipeline's rule for shop customers: a customer id takes its orders' e-mail,
-- a guest order is its e-mail's person, an order with neither has no customer.
create or replace table fct_orders as
with customer_emails as (
    select customer_id, max(email) as email
    from order_lines where customer_id is not null group by customer_id
),
orders as (
    select
        order_id,
        max(customer_id) as customer_id,
        max(email) as email,
        min(ordered_at) as ordered_at,
        sum(net_amount_rc) as net_revenue,
        sum(gross_profit_rc) as gross_profit,
        bool_and(is_return) as is_return_order,
        bool_or(coalesce(status in ('cancelled', 'canceled', 'voided', 'void'), false))
            as is_cancelled
    from order_lines
    group by order_id
)
select
    orders.*,
    cast(orders.ordered_at as date) as order_date,
    case
        when orders.customer_id is not null
            then coalesce('email:' || customer_emails.email, 'customer:' || orders.customer_id)
        when orders.email is not null then 'email:' || orders.email
    end as customer_key,
    not orders.is_cancelled and not orders.is_return_order and orders.net_revenue > 0
        as is_purchase
from orders
left join customer_emails on orders.customer_id = customer_emails.customer_id;

-- Ad spend: four vendor reports onto one daily grain, spend in USD at the day's rate.
create or replace table fct_ad_spend_daily as
with google as (
    select
        cast("Day" as date) as spend_date, 'google_ads' as platform, "Customer ID" as ad_account_id,
        trim("Campaign ID") as campaign_id,
        cast(replace("Impr.", ',', '') as bigint) as impressions,
        cast(replace("Clicks", ',', '') as bigint) as clicks,
        cast(replace("Cost", ',', '') as double) as spend,
        "Currency code" as currency_code
    from read_csv('${landing}/**/ads/google_ads/*.csv', skip = 2, header = true,
        all_varchar = true)
    where "Day" not like 'Total:%' and trim("Campaign ID") not in ('--', '')
),
meta_rows as (
    select
        cast("Day" as date) as spend_date, 'meta_ads' as platform, "Account ID" as ad_account_id,
        trim("Campaign ID") as campaign_id,
        cast("Impressions" as bigint) as impressions,
        coalesce(cast("Link clicks" as bigint), 0) as clicks,
        cast("Amount spent (EUR)" as double) as spend,
        'EUR' as currency_code
    from read_csv('${landing}/**/ads/meta_ads/*.csv', header = true, all_varchar = true)
    where nullif(trim("Day"), '') is not null and nullif(trim("Campaign ID"), '') is not null
),
linkedin as (
    select
        strptime("Start Date (in UTC)", '%m/%d/%Y')::date as spend_date, 'linkedin_ads' as platform,
        '${linkedin_account}' as ad_account_id, trim("Campaign ID") as campaign_id,
        cast("Impressions" as bigint) as impressions, cast("Clicks" as bigint) as clicks,
        cast("Total Spent" as double) as spend, "Currency" as currency_code
    from read_csv('${landing}/**/ads/linkedin_ads/*.csv', encoding = 'utf-16', delim = '\t',
        skip = 5, header = true, all_varchar = true)
),
tiktok as (
    select
        cast("By Day" as date) as spend_date, 'tiktok_ads' as platform, null as ad_account_id,
        trim("Campaign ID") as campaign_id,
        cast("Impressions" as bigint) as impressions,
        cast(nullif("Clicks (destination)", '-') as bigint) as clicks,
        cast(nullif("Cost", '-') as double) as spend, "Currency" as currency_code
    from read_csv('${landing}/**/ads/tiktok_ads/*.csv', header = true, all_varchar = true)
),
unioned as (
    select * from google
    union all select * from meta_rows
    union all select * from linkedin
    union all select * from tiktok
),
-- a report downloaded twice holds the same campaign-days: keep one
deduped as (
    select * from unioned
    qualify row_number() over (
        partition by spend_date, platform, ad_account_id, campaign_id order by spend desc
    ) = 1
)
select
    deduped.* rename (spend as spend_original),
    deduped.spend * case when deduped.currency_code = 'USD' then 1.0 else fx.rate_to_usd end
        as spend
from deduped
left join fx_daily as fx
    on fx.date_day = deduped.spend_date and fx.currency_code = deduped.currency_code;

-- Accounts: valid HubSpot companies (an id, a parseable create date, numeric employees).
create or replace table dim_accounts as
select distinct trim("Record ID") as account_id
from read_csv('${landing}/**/crm/hubspot/hubspot-crm-exports-all-companies-*.csv',
    header = true, all_varchar = true)
where nullif(trim("Record ID"), '') is not null
    and try_strptime("Create Date", '%Y-%m-%d %H:%M') is not null
    and (nullif(trim("Number of Employees"), '') is null
        or try_cast("Number of Employees" as bigint) is not null);

-- GA4 events: the largest input. Sessions as GA4 counts them (pseudo id, ga_session_id),
-- on the valid, deduplicated events; the pipeline re-sessionises (timeout, campaign change),
-- so this count is compared with a documented tolerance.
create or replace table fct_sessions as
with events as (
    select distinct
        event_name, event_timestamp, user_pseudo_id,
        list_filter(event_params, lambda p: p.key = 'ga_session_id')[1].value.int_value
            as ga_session_id
    from read_json('${landing}/**/web/ga4/events_*.jsonl.gz', format = 'newline_delimited',
        compression = 'gzip', columns = {
            event_name: 'varchar', event_timestamp: 'varchar', user_pseudo_id: 'varchar',
            event_params: 'struct(key varchar, value struct(string_value varchar,
                int_value varchar, double_value double))[]'
        })
    where event_name is not null and try_cast(event_timestamp as bigint) is not null
)
select
    user_pseudo_id, ga_session_id,
    make_timestamp(min(cast(event_timestamp as bigint))) as started_at,
    make_timestamp(max(cast(event_timestamp as bigint))) as ended_at,
    count(*) as events
from events
group by user_pseudo_id, ga_session_id;

-- Customers and RFM at the as-of date (the latest order or event day), quintiles with ties
-- exactly as the dbt macro ntile_with_ties computes them. A customer whose recency is above
-- the churn horizon (configured days, else the configured quantile of all inter-purchase
-- days, else 365) is churned and scores r 1; the others score 2-5 by recency among the
-- customers not churned.
create or replace table dim_customers as
with gaps as (
    select order_date - lag(order_date) over (
        partition by customer_key order by ordered_at, order_id) as gap_days
    from fct_orders
    where is_purchase and customer_key is not null
),
horizon as (
    select coalesce(cast(${churn_horizon_days} as double),
                    cast(quantile_cont(gap_days, ${churn_horizon_quantile}) as double),
                    365.0) as churn_horizon_days
    from gaps
),
as_of as (
    select greatest(
        (select max(order_date) from fct_orders),
        (select max(cast(ended_at as date)) from fct_sessions)
    ) as as_of_date
),
state as (
    select
        customer_key,
        sum(case when is_purchase then 1 else 0 end) as purchase_orders,
        sum(net_revenue) as net_revenue,
        max(case when is_purchase then order_date end) as last_purchase_date
    from fct_orders, as_of
    where customer_key is not null and not is_cancelled and order_date <= as_of.as_of_date
    group by customer_key
    having max(case when is_purchase then 1 else 0 end) = 1
),
churned as (
    select state.*, as_of.as_of_date - last_purchase_date as recency_days,
        as_of.as_of_date - last_purchase_date > horizon.churn_horizon_days as is_churned
    from state, as_of, horizon
),
scored as (
    select
        churned.*,
        case when is_churned then 1 else cast(2 + floor(4 * (rank() over (
            partition by is_churned order by recency_days desc) - 1)
            / cast(count(*) over (partition by is_churned) as double)) as integer) end as r_score,
        cast(1 + floor(5 * (rank() over (order by purchase_orders) - 1)
            / cast(count(*) over () as double)) as integer) as f_score
    from churned
),
segment_map as (
    select cast(r_score as integer) as r_score, cast(f_score as integer) as f_score, rfm_segment
    from read_csv('${seeds}/rfm_segment_map.csv', header = true, all_varchar = true)
)
select scored.*, coalesce(segment_map.rfm_segment, 'unmapped') as rfm_segment
from scored
left join segment_map
    on scored.r_score = segment_map.r_score and scored.f_score = segment_map.f_score;
