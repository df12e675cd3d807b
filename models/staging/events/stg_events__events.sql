with

source as (

    select * from {{ raw_source('events', 'events') }}

),

renamed as (

    select
        -- ids
        {{ raw_row_id() }} as raw_row_id,
        {{ raw_file_name() }} as raw_file_name,
        'events' as source_system,
        {{ clean_text('user_id') }} as user_id_text,
        {{ clean_numeric_id('user_id') }} as source_user_id,
        {{ clean_text('product_id') }} as product_id_text,
        {{ clean_numeric_id('product_id') }} as source_product_id,
        {{ clean_numeric_id('category_id') }} as source_category_id,
        {{ clean_text('user_session') }} as user_session,

        -- attributes
        lower({{ clean_text('event_type') }}) as event_type,
        {{ clean_text('category_code') }} as category_code,
        {{ clean_text('brand') }} as brand,

        -- amounts
        {{ clean_text('price') }} as price_text,
        {{ dbt.safe_cast(clean_text('price'), 'double') }} as price,

        -- timestamps
        {{ clean_text('event_time') }} as event_at_text,
        {{ parse_timestamp('event_time') }} as event_at

    from source

)

select * from renamed
