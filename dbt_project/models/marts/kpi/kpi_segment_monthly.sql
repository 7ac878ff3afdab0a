{#- Headline KPIs per month and segment, B2C and B2B side by side (long form). Segments of
    customers: rfm_segment and churn_status as they were that month
    (fct_segment_membership_monthly), and the current motion, acquisition_channel, region
    and age_band (dim_customers). Segments of accounts: lifecycle_stage and value_tier as
    they were that month, and the current firmographic_segment, industry, size_band,
    region and motion (dim_accounts). Members = entities in the segment that month (the
    membership history: customers from their first purchase, accounts from creation).
    B2C columns (orders, revenue, AOV) are filled for customer segments, B2B columns
    (leads, deals, win rate, ACV) for account segments; NPS for both. Filter on one
    entity_type and segment_type before summing.
    Unit economics of customer segments (null for account segments):
    * a customer's acquisition cost = the CAC of its first-touch channel in the month of its
      first purchase (kpi_channel_monthly: spend / new customers of that channel-month);
      customers acquired through unpaid or unattributed channels cost 0 — so the spend of
      every channel-month with new customers is split evenly over them (B2C customers and
      B2B accounts alike, as in the channel CAC); spend of a channel-month without new
      customers is acquisition cost of nobody;
    * new_customers / acquisition_spend: members acquired in the month and their cost;
      new_customer_cac = acquisition_spend / new_customers;
    * cac = the average acquisition cost of the segment's members (what it cost to acquire
      the people now in the segment), so LTV:CAC compares value and cost of the same people;
    * ltv = annual gross profit per member (12 × trailing-12-month gross profit / member-months
      of the segment) × the blended customer lifespan of kpi_b2c_monthly that month;
      ltv_to_cac = ltv / cac. -#}

{%- set customer_attributes = ['motion', 'acquisition_channel', 'region', 'age_band'] %}
{%- set account_attributes = ['firmographic_segment', 'industry', 'size_band', 'region', 'motion'] %}

with

membership as (

    select * from {{ ref('fct_segment_membership_monthly') }}

),

customers as (

    select * from {{ ref('int_customers_profiled') }}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

customer_roster as (

    select month_start, entity_id
    from membership
    where entity_type = 'customer' and segment_type = 'rfm_segment'

),

account_roster as (

    select month_start, entity_id
    from membership
    where entity_type = 'account' and segment_type = 'lifecycle_stage'

),

segments as (

    select month_start, entity_type, entity_id, segment_type, segment_value
    from membership
    {% for attribute in customer_attributes %}
    union all
    select
        customer_roster.month_start,
        'customer',
        customer_roster.entity_id,
        '{{ attribute }}',
        coalesce(cast(customers.{{ attribute }} as {{ dbt.type_string() }}), 'unknown')
    from customer_roster
    inner join customers
        on customer_roster.entity_id = customers.customer_key
    {% endfor %}
    {% for attribute in account_attributes %}
    union all
    select
        account_roster.month_start,
        'account',
        account_roster.entity_id,
        '{{ attribute }}',
        coalesce(cast(accounts.{{ attribute }} as {{ dbt.type_string() }}), 'unknown')
    from account_roster
    inner join accounts
        on account_roster.entity_id = accounts.account_id
    {% endfor %}

),

channel_cac as (

    select
        month_start,
        channel,
        {{ segmart.safe_divide('spend', 'new_customers') }} as cac
    from {{ ref('kpi_channel_monthly') }}

),

customer_acquisition as (

    select
        attribution.customer_key,
        sum(attribution.credit * coalesce(channel_cac.cac, 0)) as acquisition_cost
    from {{ ref('fct_attribution') }} as attribution
    left join channel_cac
        on attribution.conversion_month = channel_cac.month_start
        and attribution.channel = channel_cac.channel
    where attribution.attribution_model = 'first_touch'
        and attribution.is_new_customer
        and attribution.conversion_type = 'order'
        and attribution.customer_key is not null
    group by attribution.customer_key

),

lifespan as (

    select month_start, customer_lifespan_years
    from {{ ref('kpi_b2c_monthly') }}

),

customer_activity as (

    select
        customer_key as entity_id,
        order_month as month_start,
        sum(case when is_purchase then 1 else 0 end) as orders,
        sum(net_revenue) as net_revenue,
        sum(gross_profit) as gross_profit
    from {{ ref('fct_orders') }}
    where customer_key is not null and not is_cancelled
    group by customer_key, order_month

),

account_events as (

    select account_id, created_month as month_start,
        1 as leads, 0 as opportunities_created, 0 as won_deals, 0 as lost_deals,
        0.0 as won_tcv, 0.0 as won_acv
    from {{ ref('fct_leads') }}
    where account_id is not null
    union all
    select account_id, created_month, 0, 1, 0, 0, 0.0, 0.0
    from {{ ref('fct_opportunities') }}
    where account_id is not null
    union all
    select account_id, closed_month, 0, 0,
        case when is_won then 1 else 0 end,
        case when is_won then 0 else 1 end,
        case when is_won then tcv else 0.0 end,
        case when is_won then acv else 0.0 end
    from {{ ref('fct_opportunities') }}
    where account_id is not null and is_closed and closed_month is not null

),

account_activity as (

    select
        account_id as entity_id,
        month_start,
        sum(leads) as leads,
        sum(opportunities_created) as opportunities_created,
        sum(won_deals) as won_deals,
        sum(lost_deals) as lost_deals,
        sum(won_tcv) as won_tcv,
        sum(won_acv) as won_acv
    from account_events
    group by account_id, month_start

),

nps_by_entity as (

    select
        case when respondent_type = 'account' then 'account' else 'customer' end as entity_type,
        case when respondent_type = 'account' then account_id else person_key end as entity_id,
        response_month as month_start,
        count(*) as nps_responses,
        sum(case when is_promoter then 1 else 0 end) as promoters,
        sum(case when is_detractor then 1 else 0 end) as detractors
    from {{ ref('fct_nps_responses') }}
    group by 1, 2, 3

),

joined as (

    select
        segments.month_start,
        segments.entity_type,
        segments.segment_type,
        segments.segment_value,
        segments.entity_id,
        case when coalesce(customer_activity.orders, 0) > 0 then 1 else 0 end as is_active_customer,
        case when segments.entity_type = 'customer'
            and {{ segmart.month_start('customers.first_order_at') }} = segments.month_start
            then 1 else 0 end as is_new_customer,
        case when segments.entity_type = 'customer'
            then coalesce(customer_acquisition.acquisition_cost, 0) end as acquisition_cost,
        coalesce(customer_activity.orders, 0) as orders,
        coalesce(customer_activity.net_revenue, 0) as net_revenue,
        coalesce(customer_activity.gross_profit, 0) as gross_profit,
        coalesce(account_activity.leads, 0) as leads,
        coalesce(account_activity.opportunities_created, 0) as opportunities_created,
        coalesce(account_activity.won_deals, 0) as won_deals,
        coalesce(account_activity.lost_deals, 0) as lost_deals,
        coalesce(account_activity.won_tcv, 0) as won_tcv,
        coalesce(account_activity.won_acv, 0) as won_acv,
        coalesce(nps_by_entity.nps_responses, 0) as nps_responses,
        coalesce(nps_by_entity.promoters, 0) as promoters,
        coalesce(nps_by_entity.detractors, 0) as detractors
    from segments
    left join customer_activity
        on segments.entity_type = 'customer'
        and segments.entity_id = customer_activity.entity_id
        and segments.month_start = customer_activity.month_start
    left join account_activity
        on segments.entity_type = 'account'
        and segments.entity_id = account_activity.entity_id
        and segments.month_start = account_activity.month_start
    left join customers
        on segments.entity_type = 'customer'
        and segments.entity_id = customers.customer_key
    left join customer_acquisition
        on segments.entity_type = 'customer'
        and segments.entity_id = customer_acquisition.customer_key
    left join nps_by_entity
        on segments.entity_type = nps_by_entity.entity_type
        and segments.entity_id = nps_by_entity.entity_id
        and segments.month_start = nps_by_entity.month_start

),

aggregated as (

    select
        month_start,
        entity_type,
        segment_type,
        segment_value,
        count(*) as members,
        sum(is_active_customer) as active_customers,
        sum(is_new_customer) as new_customers,
        sum(case when is_new_customer = 1 then acquisition_cost else 0 end) as acquisition_spend,
        sum(acquisition_cost) as members_acquisition_cost,
        sum(orders) as orders,
        sum(net_revenue) as net_revenue,
        sum(gross_profit) as gross_profit,
        sum(leads) as leads,
        sum(opportunities_created) as opportunities_created,
        sum(won_deals) as won_deals,
        sum(lost_deals) as lost_deals,
        sum(won_tcv) as won_tcv,
        sum(won_acv) as won_acv,
        sum(nps_responses) as nps_responses,
        sum(promoters) as promoters,
        sum(detractors) as detractors
    from joined
    group by month_start, entity_type, segment_type, segment_value

),

segment_trailing as (

    select
        aggregated.*,
        sum(gross_profit) over (
            partition by entity_type, segment_type, segment_value
            order by {{ segmart.month_index('month_start') }}
            range between 11 preceding and current row
        ) as gross_profit_t12,
        sum(members) over (
            partition by entity_type, segment_type, segment_value
            order by {{ segmart.month_index('month_start') }}
            range between 11 preceding and current row
        ) as member_months_t12
    from aggregated

),

economics as (

    select
        segment_trailing.*,
        case when segment_trailing.entity_type = 'customer' then
            12.0 * {{ segmart.safe_divide('segment_trailing.gross_profit_t12', 'segment_trailing.member_months_t12') }}
            * lifespan.customer_lifespan_years
        end as ltv,
        case when segment_trailing.entity_type = 'customer' then
            {{ segmart.safe_divide('segment_trailing.members_acquisition_cost', 'segment_trailing.members') }}
        end as cac
    from segment_trailing
    left join lifespan
        on segment_trailing.month_start = lifespan.month_start

),

final as (

    select
        cast(month_start as {{ dbt.type_string() }}) || '|' || entity_type || '|' || segment_type
            || '|' || segment_value as segment_month_key,
        month_start,
        entity_type,
        segment_type,
        segment_value,
        cast(members as bigint) as members,
        cast(active_customers as bigint) as active_customers,
        case when entity_type = 'customer' then cast(new_customers as bigint) end as new_customers,
        case when entity_type = 'customer' then cast(acquisition_spend as double) end
            as acquisition_spend,
        case when entity_type = 'customer' then
            {{ segmart.safe_divide('acquisition_spend', 'new_customers') }}
        end as new_customer_cac,
        cast(cac as double) as cac,
        cast(ltv as double) as ltv,
        {{ segmart.safe_divide('ltv', 'cac') }} as ltv_to_cac,
        cast(orders as bigint) as orders,
        cast(net_revenue as double) as net_revenue,
        cast(gross_profit as double) as gross_profit,
        {{ segmart.safe_divide('net_revenue', 'orders') }} as aov,
        {{ segmart.safe_divide('net_revenue', 'members') }} as revenue_per_member,
        cast(leads as bigint) as leads,
        cast(opportunities_created as bigint) as opportunities_created,
        cast(won_deals as bigint) as won_deals,
        cast(lost_deals as bigint) as lost_deals,
        cast(won_tcv as double) as won_tcv,
        {{ segmart.safe_divide('won_deals', 'won_deals + lost_deals') }} as win_rate,
        {{ segmart.safe_divide('won_acv', 'won_deals') }} as average_acv,
        cast(nps_responses as bigint) as nps_responses,
        100.0 * {{ segmart.safe_divide('promoters - detractors', 'nps_responses') }} as nps
    from economics

)

select * from final
