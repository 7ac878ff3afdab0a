{#- Multi-touch attribution: every conversion credited to its touchpoints, once per model.
    One row per conversion x model x touchpoint (zero-credit touches kept so every model
    sees the same path). A conversion without touchpoints gets one row per model with
    credit 1: its channel is the conversion's own UTM / lead channel when it has one
    (attribution_basis 'conversion_utm'), else 'Unassigned'. Credits are rounded to 10
    decimals and the last touch takes the remainder, so the credits of one conversion and
    model sum to exactly 1.
    Data-driven models markov and shapley: the Dagster asset ml/attribution_channel_credits
    (pipelines/attribution) writes each conversion's credit per distinct channel of its path
    (source ml.attribution_channel_credits); a channel's credit is split equally over its
    touches on the path. Without that table (a plain dbt build) there are no such rows. -#}

{%- set half_life_days = var('time_decay_half_life_days') %}
{%- set models = [
    'first_touch', 'last_touch', 'last_non_direct', 'linear', 'time_decay', 'position_based',
] %}

with

conversions as (

    select * from {{ ref('fct_conversions') }}

),

touchpoints as (

    select * from {{ ref('fct_touchpoints') }}

),

channel_credits as (

    select * from {{ segmart.optional_source('ml', 'attribution_channel_credits', {
        'conversion_key': 'varchar', 'conversion_type': 'varchar',
        'attribution_model': 'varchar', 'channel': 'varchar',
        'channel_credit': 'double'}) }} as ml_channel_credits

),

person_matches as (

    select
        conversions.conversion_key,
        touchpoints.touchpoint_id
    from conversions
    inner join touchpoints
        on conversions.person_key = touchpoints.person_key
        and touchpoints.touched_at <= conversions.converted_at
        and touchpoints.touched_at >= conversions.window_start_at

),

account_matches as (

    {#- A won deal also counts the touches of every person of its account. -#}
    select
        conversions.conversion_key,
        touchpoints.touchpoint_id
    from conversions
    inner join touchpoints
        on conversions.account_id = touchpoints.account_id
        and touchpoints.touched_at <= conversions.converted_at
        and touchpoints.touched_at >= conversions.window_start_at
    where conversions.conversion_type = 'won_deal'

),

matches as (

    select conversion_key, touchpoint_id from person_matches
    union
    select conversion_key, touchpoint_id from account_matches

),

paths as (

    select
        matches.conversion_key,
        touchpoints.touchpoint_id,
        touchpoints.touched_at,
        touchpoints.channel,
        touchpoints.source,
        touchpoints.medium,
        touchpoints.campaign,
        touchpoints.is_direct,
        row_number() over (
            partition by matches.conversion_key
            order by touchpoints.touched_at, touchpoints.touchpoint_id
        ) as touch_rank,
        count(*) over (partition by matches.conversion_key) as touch_count,
        {{ segmart.seconds_between('touchpoints.touched_at', 'conversions.converted_at') }}
            / 86400.0 as days_before_conversion
    from matches
    inner join touchpoints
        on matches.touchpoint_id = touchpoints.touchpoint_id
    inner join conversions
        on matches.conversion_key = conversions.conversion_key

),

path_stats as (

    select
        *,
        max(case when not is_direct then touch_rank end)
            over (partition by conversion_key) as last_non_direct_rank,
        min(days_before_conversion) over (partition by conversion_key) as min_days_before
    from paths

),

decay as (

    {#- weights relative to the touch closest to the conversion (weight 1), so long paths
        never underflow to an all-zero denominator -#}
    select
        *,
        power(2.0, -(days_before_conversion - min_days_before) / {{ half_life_days }}) as decay_weight
    from path_stats

),

weighted as (

    select
        *,
        sum(decay_weight) over (partition by conversion_key) as decay_weight_total
    from decay

),

rule_models as (

    {% for model in models -%}
    select '{{ model }}' as attribution_model
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

data_driven_models as (

    {#- both models once the attribution step has written its table (even with no credit
        at all: then every conversion is unattributed); none before it ever ran -#}
    {% if segmart.source_exists('ml', 'attribution_channel_credits') -%}
    select 'markov' as attribution_model
    union all
    select 'shapley' as attribution_model
    {%- else -%}
    select cast(null as {{ dbt.type_string() }}) as attribution_model
    from rule_models
    where 1 = 0
    {%- endif %}

),

attribution_models as (

    select attribution_model from rule_models
    union all
    select attribution_model from data_driven_models

),

channel_touches as (

    {#- how many touches of each channel the path has: a channel's data-driven credit is
        split equally over them -#}
    select
        *,
        count(*) over (
            partition by conversion_key, coalesce(channel, 'Unassigned')
        ) as channel_touch_count
    from weighted

),

raw_credits as (

    select
        weighted.*,
        attribution_models.attribution_model,
        case attribution_models.attribution_model
            when 'first_touch' then case when touch_rank = 1 then 1.0 else 0.0 end
            when 'last_touch' then case when touch_rank = touch_count then 1.0 else 0.0 end
            when 'last_non_direct' then
                case when touch_rank = coalesce(last_non_direct_rank, touch_count) then 1.0 else 0.0 end
            when 'linear' then 1.0 / touch_count
            when 'time_decay' then decay_weight / decay_weight_total
            when 'position_based' then
                case
                    when touch_count = 1 then 1.0
                    when touch_count = 2 then 0.5
                    when touch_rank = 1 or touch_rank = touch_count then 0.4
                    else 0.2 / (touch_count - 2)
                end
        end as credit_raw
    from weighted
    cross join rule_models as attribution_models

    union all

    select
        weighted.*,
        data_driven_models.attribution_model,
        coalesce(channel_credits.channel_credit, 0.0)
            / channel_touches.channel_touch_count as credit_raw
    from weighted
    inner join channel_touches
        on weighted.conversion_key = channel_touches.conversion_key
        and weighted.touchpoint_id = channel_touches.touchpoint_id
    cross join data_driven_models
    left join channel_credits
        on weighted.conversion_key = channel_credits.conversion_key
        and data_driven_models.attribution_model = channel_credits.attribution_model
        and coalesce(weighted.channel, 'Unassigned') = channel_credits.channel

),

rounded as (

    select
        *,
        cast(round(credit_raw, 10) as decimal(20, 10)) as credit_rounded
    from raw_credits

),

largest as (

    {#- the rounding remainder goes to the touch with the largest credit (the latest among
        equals: the last touch for every rule model), so no credit turns negative; plain
        aggregates, not a sorted window (ten seconds at scale 1) -#}
    select
        conversion_key,
        attribution_model,
        max(credit_rounded) as max_credit,
        sum(credit_rounded) as credit_total
    from rounded
    group by conversion_key, attribution_model

),

recipients as (

    select
        rounded.conversion_key,
        rounded.attribution_model,
        max(rounded.touch_rank) as recipient_rank
    from rounded
    inner join largest
        on rounded.conversion_key = largest.conversion_key
        and rounded.attribution_model = largest.attribution_model
        and rounded.credit_rounded = largest.max_credit
    group by rounded.conversion_key, rounded.attribution_model

),

credited as (

    select
        rounded.conversion_key,
        rounded.attribution_model,
        rounded.touchpoint_id,
        rounded.touched_at,
        rounded.channel,
        rounded.source,
        rounded.medium,
        rounded.campaign,
        rounded.touch_rank,
        rounded.touch_count,
        rounded.days_before_conversion,
        case
            when rounded.touch_rank = recipients.recipient_rank
                then cast(1 as decimal(20, 10)) - (largest.credit_total - rounded.credit_rounded)
            else rounded.credit_rounded
        end as credit
    from rounded
    inner join largest
        on rounded.conversion_key = largest.conversion_key
        and rounded.attribution_model = largest.attribution_model
    inner join recipients
        on rounded.conversion_key = recipients.conversion_key
        and rounded.attribution_model = recipients.attribution_model

),

unattributed as (

    select
        conversions.conversion_key,
        attribution_models.attribution_model,
        cast(null as {{ dbt.type_string() }}) as touchpoint_id,
        cast(null as timestamp) as touched_at,
        coalesce(conversions.own_channel, 'Unassigned') as channel,
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as medium,
        conversions.own_campaign as campaign,
        cast(null as bigint) as touch_rank,
        cast(0 as bigint) as touch_count,
        cast(null as double) as days_before_conversion,
        cast(1 as decimal(20, 10)) as credit
    from conversions
    cross join attribution_models
    where not exists (
        select 1 from matches where matches.conversion_key = conversions.conversion_key
    )

),

all_credits as (

    select * from credited
    union all
    select * from unattributed

),

final as (

    select
        all_credits.conversion_key || '|' || all_credits.attribution_model || '|'
            || coalesce(all_credits.touchpoint_id, '-') as attribution_key,
        conversions.conversion_key,
        conversions.conversion_id,
        conversions.conversion_type,
        all_credits.attribution_model,
        all_credits.touchpoint_id,
        all_credits.touch_rank,
        all_credits.touch_count,
        all_credits.touched_at,
        all_credits.days_before_conversion,
        all_credits.channel,
        all_credits.source,
        all_credits.medium,
        all_credits.campaign,
        case
            when all_credits.touchpoint_id is not null then 'touchpoint'
            when all_credits.channel <> 'Unassigned' then 'conversion_utm'
            else 'none'
        end as attribution_basis,
        cast(all_credits.credit as decimal(20, 10)) as credit,
        conversions.revenue * cast(all_credits.credit as double) as attributed_revenue,
        conversions.gross_profit * cast(all_credits.credit as double) as attributed_gross_profit,
        case when conversions.is_new_customer then cast(all_credits.credit as double) else 0.0 end
            as attributed_new_customers,
        conversions.revenue as conversion_revenue,
        conversions.gross_profit as conversion_gross_profit,
        conversions.is_new_customer,
        conversions.converted_at,
        conversions.conversion_month,
        conversions.person_key,
        conversions.customer_key,
        conversions.account_id,
        conversions.motion
    from all_credits
    inner join conversions
        on all_credits.conversion_key = conversions.conversion_key

)

select * from final
