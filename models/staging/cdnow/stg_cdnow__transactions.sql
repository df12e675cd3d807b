with

source as (

    select * from {{ raw_source('cdnow', 'transactions') }}

),

renamed as (

    select
        -- ids
        {{ raw_row_id() }} as raw_row_id,
        'cdnow' as source_system,
        {{ clean_text('customer_id') }} as customer_id_text,
        {{ clean_numeric_id('customer_id') }} as source_customer_id,

        -- amounts
        {{ clean_text('quantity') }} as quantity_text,
        {{ dbt.safe_cast(clean_text('quantity'), dbt.type_bigint()) }} as quantity,
        {{ clean_text('amount') }} as amount_text,
        {{ dbt.safe_cast(clean_text('amount'), 'double') }} as amount,

        -- timestamps
        {{ clean_text('date') }} as ordered_on_text,
        {{ parse_date_compact(clean_text('date')) }} as ordered_on

    from source

)

select * from renamed
