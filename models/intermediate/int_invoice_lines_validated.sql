-- Every invoice line with the reason it cannot be used, or null when it is clean. The first rule
-- that applies wins, so each rejected row carries exactly one reason. Cancellations (invoice
-- numbers starting with C) are valid lines: they are kept, flagged and netted in the marts.
-- Dates must fall between var('shop_opened_on') and the day after the build started (a day of
-- slack for time zones); a quantity above var('max_line_quantity') units, either way, is absurd.

{% set shop_opened_on = "cast('" ~ var('shop_opened_on', '1990-01-01') ~ "' as date)" %}
{% set latest_valid_date = "cast('" ~ (run_started_at + modules.datetime.timedelta(days=1)).strftime('%Y-%m-%d') ~ "' as date)" %}
{% set non_finite_doubles = "cast('NaN' as double), cast('Infinity' as double), cast('-Infinity' as double)" %}

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
            -- every UCI line names a country, its last column: a line cut short has none
            when country is null then 'missing_country'
            when invoiced_at is null then 'unreadable_invoice_date'
            when cast(invoiced_at as date) > {{ latest_valid_date }} then 'date_in_future'
            when cast(invoiced_at as date) < {{ shop_opened_on }} then 'date_before_shop_opened'
            when quantity is null then 'unreadable_quantity'
            -- a cast to an integer rounds "6.5" to 7; units are whole
            when {{ dbt.safe_cast('quantity_text', 'double') }} <> quantity
                then 'non_integer_quantity'
            when unit_price is null then 'unreadable_unit_price'
            when unit_price in ({{ non_finite_doubles }}) then 'non_finite_price'
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

    from flagged

)

select
    *,
    -- the raw row as text, for the quarantine (clean rows need none)
    case when rejection_reason is not null then {{ dbt.concat([
        "coalesce(invoice_no, '')", "'|'", "coalesce(stock_code, '')", "'|'",
        "coalesce(description, '')", "'|'", "coalesce(quantity_text, '')", "'|'",
        "coalesce(invoiced_at_text, '')", "'|'", "coalesce(unit_price_text, '')", "'|'",
        "coalesce(customer_id_text, '')", "'|'", "coalesce(country, '')"
    ]) }} end as raw_record

from validated
