{#- Signatures of a model's inputs, for incremental models rebuilt per key whenever any
    input of that key changed (docs/incremental.md: fct_attribution per conversion).

    A signature is a number computed from values, equal for equal values, compared with the
    one the model holds from its last build: a key whose signature differs (or that is new)
    is rebuilt. It is a 64-bit hash: two different inputs collide with probability ~2^-64.

    row_hash(expressions)      one row's hash of the expressions, as a big integer (nulls and
                               their positions count)
    hash_sum(expression)       the order-independent aggregate of row hashes over a group
                               (a sum, so duplicates count), as a big integer
-#}

{% macro row_hash(expressions) -%}
    {{ return(adapter.dispatch('row_hash', 'segmart')(expressions)) }}
{%- endmacro %}
{% macro default__row_hash(expressions) -%}
    cast(hash({{ expressions | join(', ') }}) as hugeint)
{%- endmacro %}
{% macro spark__row_hash(expressions) -%}
    cast(xxhash64({{ expressions | join(', ') }}) as decimal(38, 0))
{%- endmacro %}

{% macro hash_sum(expression) -%}
    {{ return(adapter.dispatch('hash_sum', 'segmart')(expression)) }}
{%- endmacro %}
{% macro default__hash_sum(expression) -%}
    coalesce(sum({{ expression }}), cast(0 as hugeint))
{%- endmacro %}
{% macro spark__hash_sum(expression) -%}
    {#- decimal(38, 0) holds the sum of up to ~10^19 64-bit hashes -#}
    coalesce(sum({{ expression }}), cast(0 as decimal(38, 0)))
{%- endmacro %}
