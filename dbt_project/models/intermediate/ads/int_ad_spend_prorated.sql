{#- Ad spend at day grain. A daily row passes through unchanged. A period-grain row (a UI
    report without a Day column: period_start .. period_end) is spread evenly over the days
    of its period (is_prorated): day i of n gets round(total * i / n, d) - round(total * (i - 1)
    / n, d), cents (d = 2) for spend, conversions and value, whole numbers (d = 0) for
    impressions and clicks; the rounded days sum back exactly to the period's total (rounded
    to the cent), the rounding remainder landing on the days where the running total crosses a
    cent. When several rows cover the same campaign and day (a June report and a Day-segmented
    report of the same June, or overlapping periods), the finest grain wins the day: a daily row
    over a prorated one, a shorter period over a longer one, then the newer download. -#}

with

spend as (

    select
        *,
        {{ segmart.days_between('spend_date', 'period_end') }} + 1 as period_days
    from {{ ref('stg_ads__ad_spend_daily') }}

),

daily as (

    select
        spend_date,
        platform,
        ad_account_id,
        campaign_id,
        campaign_name,
        campaign_type,
        impressions,
        clicks,
        spend,
        currency_code,
        platform_conversions,
        platform_conversion_value,
        false as is_prorated,
        cast(null as date) as period_start,
        cast(null as date) as period_end,
        1 as period_days,
        ingested_at
    from spend
    where period_end is null or period_end <= spend_date

),

periods as (

    select * from spend
    where period_end > spend_date

),

spine as (

    {{ segmart.date_spine('(select min(spend_date) from periods)', '(select max(period_end) from periods)') }}

),

period_days as (

    select
        periods.*,
        spine.date_day,
        {{ segmart.days_between('periods.spend_date', 'spine.date_day') }} + 1 as day_number
    from periods
    inner join spine
        on spine.date_day >= periods.spend_date
        and spine.date_day <= periods.period_end

),

prorated as (

    select
        date_day as spend_date,
        platform,
        ad_account_id,
        campaign_id,
        campaign_name,
        campaign_type,
        {{ segmart.spread_evenly('impressions', 'day_number', 'period_days', 0) }} as impressions,
        {{ segmart.spread_evenly('clicks', 'day_number', 'period_days', 0) }} as clicks,
        {{ segmart.spread_evenly('spend', 'day_number', 'period_days', 2) }} as spend,
        currency_code,
        {{ segmart.spread_evenly('platform_conversions', 'day_number', 'period_days', 2) }}
            as platform_conversions,
        {{ segmart.spread_evenly('platform_conversion_value', 'day_number', 'period_days', 2) }}
            as platform_conversion_value,
        true as is_prorated,
        period_start,
        period_end,
        period_days,
        ingested_at
    from period_days

),

unioned as (

    select * from daily
    union all
    select * from prorated

),

ranked as (

    select
        *,
        row_number() over (
            partition by spend_date, platform, ad_account_id, campaign_id
            order by period_days, ingested_at desc, period_start desc
        ) as day_rank
    from unioned

),

final as (

    select
        spend_date,
        platform,
        ad_account_id,
        campaign_id,
        campaign_name,
        campaign_type,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(clicks as {{ dbt.type_bigint() }}) as clicks,
        spend,
        currency_code,
        platform_conversions,
        platform_conversion_value,
        is_prorated,
        period_start,
        period_end,
        period_days
    from ranked
    where day_rank = 1

)

select * from final
