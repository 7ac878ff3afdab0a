{#- Generic reconciliation test: the total of `column_name` in the model equals the total of
    `compare_column` in `compare_model` (optionally filtered), within `tolerance`
    (absolute, in the column's unit). -#}
{% test sums_match(model, column_name, compare_model, compare_column, compare_where='1 = 1',
    tolerance=0.01) %}

with

model_total as (

    select coalesce(sum({{ column_name }}), 0) as total from {{ model }}

),

compare_total as (

    select coalesce(sum({{ compare_column }}), 0) as total
    from {{ compare_model }}
    where {{ compare_where }}

)

select
    model_total.total as model_total,
    compare_total.total as compare_total
from model_total
cross join compare_total
where abs(model_total.total - compare_total.total) > {{ tolerance }}

{% endtest %}
