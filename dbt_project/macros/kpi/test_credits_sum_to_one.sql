{#- Generic test: within each group (e.g. conversion x attribution model) the credits sum
    to exactly 1. Fails with the groups whose sum differs. -#}
{% test credits_sum_to_one(model, column_name, group_by) %}

select
    {{ group_by | join(', ') }},
    sum({{ column_name }}) as credit_total
from {{ model }}
group by {{ group_by | join(', ') }}
having sum({{ column_name }}) <> 1

{% endtest %}
