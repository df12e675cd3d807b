-- Every CDNOW transaction with the reason it cannot be used, or null when it is clean. Repeated
-- identical rows are kept: CDNOW records separate same-day purchases as separate rows. Dates
-- must fall between var('shop_opened_on') and the day after the build started.

with

transactions as (

    select * from {{ ref('stg_cdnow__transactions') }}

)

select
    *,
    case
        when source_customer_id is null then 'missing_customer_id'
        when ordered_on is null then 'unreadable_order_date'
        when ordered_on > {{ latest_valid_date() }} then 'date_in_future'
        when ordered_on < {{ shop_opened_on_date() }} then 'date_before_shop_opened'
        when quantity is null then 'unreadable_quantity'
        when amount is null then 'unreadable_amount'
        when quantity <= 0 then 'non_positive_quantity'
        when amount <= 0 then 'non_positive_amount'
    end as rejection_reason,
    {{ dbt.concat([
        "coalesce(customer_id_text, '')", "'|'", "coalesce(ordered_on_text, '')", "'|'",
        "coalesce(quantity_text, '')", "'|'", "coalesce(amount_text, '')"
    ]) }} as raw_record

from transactions
