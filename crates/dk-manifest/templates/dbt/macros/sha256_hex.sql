-- The SHA-256 of a text expression as lowercase hex, in the warehouse's own dialect.
{% macro sha256_hex(expression) -%}
    {%- if target.type == 'postgres' -%}
        encode(sha256(convert_to({{ expression }}, 'UTF8')), 'hex')
    {%- else -%}
        sha256({{ expression }})
    {%- endif -%}
{%- endmacro %}
