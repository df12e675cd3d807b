{#-
    Staging for invoice lines in either UCI Online Retail format. The two exports differ only in
    three column names, so both staging models call this one macro rather than keep two copies.
    Every raw row comes through (no filter): text is kept beside each parsed value so that the
    validation step can tell "missing" from "unreadable".
-#}
{% macro stage_invoice_lines(source_name, invoice_column, price_column, customer_column) -%}
with

source as (

    select * from {{ raw_source(source_name, 'invoice_lines') }}

),

renamed as (

    select
        -- ids
        {{ raw_row_id() }} as raw_row_id,
        {{ raw_file_name() }} as raw_file_name,
        '{{ source_name }}' as source_system,
        {{ clean_text(adapter.quote(invoice_column)) }} as invoice_no,
        {{ clean_text(adapter.quote('StockCode')) }} as stock_code,
        {{ clean_text(adapter.quote(customer_column)) }} as customer_id_text,
        {{ clean_numeric_id(adapter.quote(customer_column)) }} as source_customer_id,

        -- text
        {{ clean_text(adapter.quote('Description')) }} as description,
        {{ clean_text(adapter.quote('Country')) }} as country,

        -- amounts
        {{ clean_text(adapter.quote('Quantity')) }} as quantity_text,
        {{ dbt.safe_cast(clean_text(adapter.quote('Quantity')), dbt.type_bigint()) }} as quantity,
        {{ clean_text(adapter.quote(price_column)) }} as unit_price_text,
        {{ dbt.safe_cast(clean_text(adapter.quote(price_column)), 'double') }} as unit_price,

        -- timestamps
        {{ clean_text(adapter.quote('InvoiceDate')) }} as invoiced_at_text,
        {{ parse_timestamp(adapter.quote('InvoiceDate')) }} as invoiced_at

    from source

)

select * from renamed
{%- endmacro %}
