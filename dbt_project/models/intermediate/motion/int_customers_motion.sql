{#- Derived motion of each customer (b2b, b2c, b2g, hybrid). Rule, first match:
      1. a row in seed motion_overrides (entity_type 'customer', entity_id = customer_key or
         customer_id)                                                     → its motion;
      2. government e-mail domain, or attached to a b2g account           → b2g;
      3. attached to an account (CRM link or corporate domain match):
         free-mail or unknown e-mail → hybrid (a person buying for a company), else the
         account's motion when it is b2b or hybrid, else hybrid;
      4. corporate e-mail but no account: median order ≥ var('motion_b2b_min_deal_rc') → b2b,
         else hybrid (work e-mail, consumer-sized purchases);
      5. free-mail or no e-mail                                           → b2c. -#}

{%- set min_deal = var('motion_b2b_min_deal_rc', 1000) %}

with

signals as (

    select * from {{ ref('int_customers_motion_signals') }}

),

overrides as (

    select entity_id, lower(trim(motion)) as motion
    from {{ ref('motion_overrides') }}
    where lower(trim(entity_type)) = 'customer'

),

final as (

    select
        signals.customer_key,
        case
            when by_key.motion is not null then by_key.motion
            when by_id.motion is not null then by_id.motion
            when signals.email_domain_type = 'government' or signals.account_motion = 'b2g' then 'b2g'
            when signals.account_id is not null then
                case
                    when signals.email_domain_type in ('free_mail', 'unknown') then 'hybrid'
                    when signals.account_motion in ('b2b', 'hybrid') then signals.account_motion
                    else 'hybrid'
                end
            when signals.email_domain_type = 'corporate' then
                case when signals.median_order_value_rc >= {{ min_deal }} then 'b2b' else 'hybrid' end
            else 'b2c'
        end as motion,
        case
            when by_key.motion is not null or by_id.motion is not null then 'override'
            when signals.email_domain_type = 'government' or signals.account_motion = 'b2g' then 'public sector'
            when signals.account_id is not null then 'account attached'
            when signals.email_domain_type = 'corporate' then 'corporate e-mail'
            else 'consumer e-mail or none'
        end as motion_reason
    from signals
    left join overrides as by_key
        on signals.customer_key = by_key.entity_id
    left join overrides as by_id
        on signals.customer_id = by_id.entity_id

)

select * from final
