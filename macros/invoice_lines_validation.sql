{#- The invoice-line chain's validation, shared by int_invoice_lines_validated (a full build) and
    int_invoice_lines_batch (an increment): macros/incremental_batch.sql. -#}

{#- The raw columns that make two invoice lines exact duplicates. -#}
{% macro invoice_lines_duplicate_key() -%}
    {{ return(['source_system', 'invoice_no', 'stock_code', 'description', 'quantity_text',
               'invoiced_at_text', 'unit_price_text', 'customer_id_text', 'country']) }}
{%- endmacro %}


{#- The columns int_invoice_lines_validated derives from the staged ones. -#}
{% macro invoice_lines_derived_columns() -%}
    {{ return(['is_duplicate', 'is_cancellation', 'is_non_product_code', 'rejection_reason',
               'raw_record']) }}
{%- endmacro %}


{#- The columns of int_invoice_lines_validated, in order: the staged ones, then the verdict. -#}
{% macro invoice_lines_validated_columns() -%}
    {{ return(['raw_row_id', 'raw_file_name', 'source_system', 'invoice_no', 'stock_code',
               'customer_id_text', 'source_customer_id', 'description', 'country', 'quantity_text',
               'quantity', 'unit_price_text', 'unit_price', 'invoiced_at_text', 'invoiced_at']
              + invoice_lines_derived_columns()) }}
{%- endmacro %}


{#- Select the rows of `relation` (staged columns plus is_duplicate) with their verdict: the
    first rule that applies wins, so each rejected row carries exactly one reason. Cancellations
    (invoice numbers starting with C) are valid lines: they are kept, flagged and netted in the
    marts. Dates must fall between var('shop_opened_on') and the day after the build started (a
    day of slack for time zones); a quantity above var('max_line_quantity') units, either way, is
    absurd. -#}
{% macro invoice_lines_verdict(relation) -%}
    select
        *,
        -- the raw row as text (its raw columns, the duplicate key's), for the quarantine; clean
        -- rows need none
        case when rejection_reason is not null
            then {{ raw_record(invoice_lines_duplicate_key() | reject('equalto', 'source_system') | list) }}
        end as raw_record

    from (

    select
        *,
        case
            when invoice_no is null then 'missing_invoice_no'
            when stock_code is null then 'missing_stock_code'
            -- every UCI line names a country, its last column: a line cut short has none
            when country is null then 'missing_country'
            when invoiced_at is null then 'unreadable_invoice_date'
            when cast(invoiced_at as date) > {{ latest_valid_date() }} then 'date_in_future'
            when cast(invoiced_at as date) < {{ shop_opened_on_date() }} then 'date_before_shop_opened'
            when quantity is null then 'unreadable_quantity'
            -- a cast to an integer rounds "6.5" to 7; units are whole
            when {{ dbt.safe_cast('quantity_text', 'double') }} <> quantity
                then 'non_integer_quantity'
            when unit_price is null then 'unreadable_unit_price'
            when unit_price in ({{ non_finite_doubles() }}) then 'non_finite_price'
            when customer_id_text is not null and source_customer_id is null
                then 'unreadable_customer_id'
            -- 17850.0 is customer 17850, but 17850.5 is no customer (the cast would round it)
            when customer_id_text is not null
                and {{ dbt.safe_cast('customer_id_text', 'double') }}
                    <> cast(source_customer_id as double)
                then 'non_integer_customer_id'
            when is_duplicate then 'duplicate_line'
            when is_non_product_code then 'non_product_code'
            when quantity = 0 then 'zero_quantity'
            when unit_price <= 0 then 'non_positive_price'
            when abs(quantity) > {{ var('max_line_quantity', 100000) }} then 'absurd_quantity'
            when quantity < 0 and not is_cancellation then 'negative_quantity_without_cancellation'
            when quantity > 0 and is_cancellation then 'positive_quantity_on_cancellation'
        end as rejection_reason

    from (
        select
            lines.*,
            lines.invoice_no like 'C%' as is_cancellation,
            non_product_codes.stock_code is not null as is_non_product_code

        from {{ relation }} as lines
        left join (
            select distinct upper(stock_code) as stock_code from {{ ref('non_product_stock_codes') }}
        ) as non_product_codes
            on upper(lines.stock_code) = non_product_codes.stock_code
    ) as flagged

    ) as judged
{%- endmacro %}
