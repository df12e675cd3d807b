-- Every invoice line with the reason it cannot be used, or null when it is clean. The first rule
-- that applies wins, so each rejected row carries exactly one reason. Cancellations (invoice
-- numbers starting with C) are valid lines: they are kept, flagged and netted in the marts.

with

invoice_lines as (

    select * from {{ ref('int_invoice_lines_unioned') }}

),

non_product_codes as (

    select upper(stock_code) as non_product_code from {{ ref('non_product_stock_codes') }}

),

flagged as (

    select
        invoice_lines.*,
        invoice_lines.invoice_no like 'C%' as is_cancellation,
        non_product_codes.non_product_code is not null as is_non_product_code,
        -- later copies of a line identical in every raw column are duplicates of the first
        row_number() over (
            partition by
                source_system, invoice_no, stock_code, description, quantity_text,
                invoiced_at_text, unit_price_text, customer_id_text, country
            order by raw_row_id
        ) > 1 as is_duplicate

    from invoice_lines
    left join non_product_codes
        on upper(invoice_lines.stock_code) = non_product_codes.non_product_code

),

validated as (

    select
        *,
        case
            when invoice_no is null then 'missing_invoice_no'
            when stock_code is null then 'missing_stock_code'
            when invoiced_at is null then 'unreadable_invoice_date'
            when quantity is null then 'unreadable_quantity'
            when unit_price is null then 'unreadable_unit_price'
            when customer_id_text is not null and source_customer_id is null
                then 'unreadable_customer_id'
            when is_duplicate then 'duplicate_line'
            when is_non_product_code then 'non_product_code'
            when quantity = 0 then 'zero_quantity'
            when unit_price <= 0 then 'non_positive_price'
            when quantity < 0 and not is_cancellation then 'negative_quantity_without_cancellation'
            when quantity > 0 and is_cancellation then 'positive_quantity_on_cancellation'
        end as rejection_reason,
        {{ dbt.concat([
            "coalesce(invoice_no, '')", "'|'", "coalesce(stock_code, '')", "'|'",
            "coalesce(description, '')", "'|'", "coalesce(quantity_text, '')", "'|'",
            "coalesce(invoiced_at_text, '')", "'|'", "coalesce(unit_price_text, '')", "'|'",
            "coalesce(customer_id_text, '')", "'|'", "coalesce(country, '')"
        ]) }} as raw_record

    from flagged

)

select * from validated
