{#- The probabilistic CLV model checked on held-out time, as the BG/NBD papers do: fitted on
    the calibration period only (the weeks before config clv.calibration_end, default the
    as-of date − clv.holdout_weeks weeks), its predictions for the holdout period are set
    against what the same customers bought. Long form: the whole holdout (comparison =
    'total', there whenever anyone purchased), per holdout week (comparison = 'week', with
    running totals) and per calibration repeat-purchase bucket (comparison = 'frequency':
    0, 1, …, 7+). Written by the Dagster asset customer_clv (source ml.clv_holdout); zero
    rows before the first fit or without purchases; predicted columns null when the
    calibration fit did not succeed (fit_status). -#}

with

holdout as (

    select * from {{ segmart.optional_source('ml', 'clv_holdout', {
        'comparison': 'varchar', 'bucket_order': 'integer', 'bucket_label': 'varchar',
        'period_start': 'date', 'period_end': 'date', 'customers': 'bigint',
        'actual_purchases': 'double', 'predicted_purchases': 'double',
        'cumulative_actual_purchases': 'double', 'cumulative_predicted_purchases': 'double',
        'calibration_end': 'date', 'holdout_end': 'date', 'fit_status': 'varchar'}) }} as ml_holdout

),

final as (

    select
        comparison || '|' || cast(bucket_order as {{ dbt.type_string() }}) as holdout_row_key,
        comparison,
        bucket_order,
        bucket_label,
        period_start,
        period_end,
        customers,
        actual_purchases,
        predicted_purchases,
        {{ segmart.safe_divide('actual_purchases', 'customers') }} as actual_purchases_per_customer,
        {{ segmart.safe_divide('predicted_purchases', 'customers') }} as predicted_purchases_per_customer,
        cumulative_actual_purchases,
        cumulative_predicted_purchases,
        calibration_end,
        holdout_end,
        fit_status
    from holdout

)

select * from final
