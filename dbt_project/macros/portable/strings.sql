{#- Portable string helpers (regex flavour, split, safe casts). -#}

{#- True when `expr` matches the regular expression `pattern` (a SQL string literal). -#}
{% macro regex_matches(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'segmart')(expr, pattern)) }}
{%- endmacro %}
{% macro default__regex_matches(expr, pattern) -%}
    regexp_matches({{ expr }}, {{ pattern }})
{%- endmacro %}
{% macro spark__regex_matches(expr, pattern) -%}
    ({{ expr }} rlike {{ pattern }})
{%- endmacro %}

{#- Replace every match of `pattern` in `expr`. -#}
{% macro regex_replace_all(expr, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace_all', 'segmart')(expr, pattern, replacement)) }}
{%- endmacro %}
{% macro default__regex_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}
{% macro spark__regex_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}

{#- Capture group `group` of the first match of `pattern`, null when no match. -#}
{% macro regex_extract(expr, pattern, group=1) -%}
    {{ return(adapter.dispatch('regex_extract', 'segmart')(expr, pattern, group)) }}
{%- endmacro %}
{% macro default__regex_extract(expr, pattern, group) -%}
    nullif(regexp_extract({{ expr }}, {{ pattern }}, {{ group }}), '')
{%- endmacro %}
{% macro spark__regex_extract(expr, pattern, group) -%}
    nullif(regexp_extract({{ expr }}, {{ pattern }}, {{ group }}), '')
{%- endmacro %}

{#- The n-th (1-based) part of `expr` split on a literal one-character delimiter. -#}
{% macro split_part(expr, delimiter, n) -%}
    {{ return(adapter.dispatch('split_part', 'segmart')(expr, delimiter, n)) }}
{%- endmacro %}
{% macro default__split_part(expr, delimiter, n) -%}
    nullif(split_part({{ expr }}, {{ delimiter }}, {{ n }}), '')
{%- endmacro %}
{% macro spark__split_part(expr, delimiter, n) -%}
    nullif(split_part({{ expr }}, {{ delimiter }}, {{ n }}), '')
{%- endmacro %}

{#- Cast that yields null instead of failing. -#}
{% macro safe_cast(expr, type) -%}
    {{ return(adapter.dispatch('safe_cast', 'segmart')(expr, type)) }}
{%- endmacro %}
{% macro default__safe_cast(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}
{% macro spark__safe_cast(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{#- Blank strings (after trim) become null; otherwise the trimmed value. -#}
{% macro clean_text(expr) -%}
    nullif(trim({{ expr }}), '')
{%- endmacro %}

{#- Lower-cased host of a URL or e-mail-ish domain value: no scheme, www., path or port. -#}
{% macro url_host(expr) -%}
    {{ segmart.regex_extract(
        'lower(trim(' ~ expr ~ '))',
        "'^(?:[a-z][a-z0-9+.-]*://)?(?:www\\.)?([^/:?#@]+)'",
    ) }}
{%- endmacro %}

{#- Path of a URL (without query string / fragment), '/' when empty. -#}
{% macro url_path(expr) -%}
    coalesce({{ segmart.regex_extract(
        'lower(trim(' ~ expr ~ '))',
        "'^(?:[a-z][a-z0-9+.-]*://[^/?#]*)?(/[^?#]*)'",
    ) }}, '/')
{%- endmacro %}

{#- Value of query parameter `name` in a URL, null when absent or empty. -#}
{% macro url_param(expr, name) -%}
    {{ segmart.regex_extract(expr, "'[?&]" ~ name ~ "=([^&#]*)'") }}
{%- endmacro %}
