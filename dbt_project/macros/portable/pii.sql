{#- Keyed hash of a personal-data value (e-mail, phone) so it can be joined on but not read.

    The key comes from env var SEGMART_PII_KEY (dev default 'dev-only-key': set your own in
    production). Neither DuckDB nor Spark SQL has an HMAC function, so both engines compute
    the same keyed hash  sha256(key || '|' || value)  as lowercase hex: a key-prefixed
    SHA-256 (not RFC 2104 HMAC, but with a secret key it resists dictionary reversal the same
    way for these short values, and the identical formula keeps hashes equal across engines).
    Null or blank values hash to null. Normalise (trim/lower) before hashing. -#}
{% macro pii_hash(expr) -%}
    {{ return(adapter.dispatch('pii_hash', 'segmart')(expr)) }}
{%- endmacro %}

{% macro pii_key_literal() -%}
    '{{ env_var("SEGMART_PII_KEY", "dev-only-key") | replace("'", "''") }}'
{%- endmacro %}

{% macro default__pii_hash(expr) -%}
    case when nullif(trim({{ expr }}), '') is not null
        then sha256({{ segmart.pii_key_literal() }} || '|' || {{ expr }}) end
{%- endmacro %}
{% macro spark__pii_hash(expr) -%}
    case when nullif(trim({{ expr }}), '') is not null
        then sha2({{ segmart.pii_key_literal() }} || '|' || {{ expr }}, 256) end
{%- endmacro %}

{#- Normalised e-mail: trimmed, lower-cased, null when it has no '@'. -#}
{% macro normalize_email(expr) -%}
    case when lower(trim({{ expr }})) like '%_@_%' then lower(trim({{ expr }})) end
{%- endmacro %}

{#- Normalised phone: digits only (a leading '+' kept), null when fewer than 6 digits. -#}
{% macro normalize_phone(expr) -%}
    case when length({{ segmart.regex_replace_all(expr, "'[^0-9]'", "''") }}) >= 6
        then case when trim({{ expr }}) like '+%' then '+' else '' end
            || {{ segmart.regex_replace_all(expr, "'[^0-9]'", "''") }}
    end
{%- endmacro %}
