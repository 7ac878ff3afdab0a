{#- Portable aggregate helpers. -#}

{#- Continuous quantile (linear interpolation) of `expr`; q in [0, 1]. -#}
{% macro quantile_cont(expr, q) -%}
    {{ return(adapter.dispatch('quantile_cont', 'segmart')(expr, q)) }}
{%- endmacro %}
{% macro default__quantile_cont(expr, q) -%}
    quantile_cont({{ expr }}, {{ q }})
{%- endmacro %}
{% macro spark__quantile_cont(expr, q) -%}
    percentile({{ expr }}, {{ q }})
{%- endmacro %}

{#- Median (continuous). -#}
{% macro median(expr) -%}
    {{ segmart.quantile_cont(expr, 0.5) }}
{%- endmacro %}

{#- The value of `value_expr` on the row with the largest `order_expr` in the group. -#}
{% macro arg_max(value_expr, order_expr) -%}
    {{ return(adapter.dispatch('arg_max', 'segmart')(value_expr, order_expr)) }}
{%- endmacro %}
{% macro default__arg_max(value_expr, order_expr) -%}
    arg_max({{ value_expr }}, {{ order_expr }})
{%- endmacro %}
{% macro spark__arg_max(value_expr, order_expr) -%}
    max_by({{ value_expr }}, {{ order_expr }})
{%- endmacro %}

{#- Sorted, de-duplicated, delimiter-joined list of the distinct non-null values. -#}
{% macro string_agg_distinct(expr, delimiter) -%}
    {{ return(adapter.dispatch('string_agg_distinct', 'segmart')(expr, delimiter)) }}
{%- endmacro %}
{% macro default__string_agg_distinct(expr, delimiter) -%}
    string_agg(distinct {{ expr }}, {{ delimiter }} order by {{ expr }})
{%- endmacro %}
{% macro spark__string_agg_distinct(expr, delimiter) -%}
    array_join(array_sort(collect_set({{ expr }})), {{ delimiter }})
{%- endmacro %}

{#- Window function: the last non-null value of `expr` in the frame (use with an OVER clause). -#}
{% macro last_value_ignore_nulls(expr) -%}
    {{ return(adapter.dispatch('last_value_ignore_nulls', 'segmart')(expr)) }}
{%- endmacro %}
{% macro default__last_value_ignore_nulls(expr) -%}
    last_value({{ expr }} ignore nulls)
{%- endmacro %}
{% macro spark__last_value_ignore_nulls(expr) -%}
    last_value({{ expr }}, true)
{%- endmacro %}

{#- Deterministic hex digest of a string key (not for PII: use pii_hash). md5 exists in both engines. -#}
{% macro surrogate_key(expr) -%}
    md5({{ expr }})
{%- endmacro %}

{#- A struct of the named expressions (`fields`: a dict name -> SQL expression, in order);
    read a field with `<column>.<name>`. Structs compare field by field: min() of a struct
    whose first fields are an ordering key (e.g. event_at, event_id) is the whole first row. -#}
{% macro named_struct(fields) -%}
    {{ return(adapter.dispatch('named_struct', 'segmart')(fields)) }}
{%- endmacro %}
{% macro default__named_struct(fields) -%}
    struct_pack({% for name, expr in fields.items() %}{{ name }} := {{ expr }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}
{% macro spark__named_struct(fields) -%}
    named_struct({% for name, expr in fields.items() %}'{{ name }}', {{ expr }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}
