with

source as (

    select * from {{ raw_source('customer_profiles', 'customers') }}

),

renamed as (

    select
        -- ids
        {{ raw_row_id() }} as raw_row_id,
        'customer_profiles' as source_system,
        {{ clean_text(adapter.quote('ID')) }} as id_text,
        {{ clean_numeric_id(adapter.quote('ID')) }} as source_customer_id,

        -- demographics
        {{ dbt.safe_cast(clean_text(adapter.quote('Year_Birth')), dbt.type_int()) }} as birth_year,
        {{ clean_text(adapter.quote('Education')) }} as education,
        {{ clean_text(adapter.quote('Marital_Status')) }} as marital_status_raw,
        {{ dbt.safe_cast(clean_text(adapter.quote('Income')), 'double') }} as income,
        {{ dbt.safe_cast(clean_text(adapter.quote('Kidhome')), dbt.type_int()) }} as kids_at_home,
        {{ dbt.safe_cast(clean_text(adapter.quote('Teenhome')), dbt.type_int()) }} as teens_at_home,

        -- spending over the last two years, by category
        {{ dbt.safe_cast(clean_text(adapter.quote('MntWines')), 'double') }} as amount_wines,
        {{ dbt.safe_cast(clean_text(adapter.quote('MntFruits')), 'double') }} as amount_fruits,
        {{ dbt.safe_cast(clean_text(adapter.quote('MntMeatProducts')), 'double') }} as amount_meat,
        {{ dbt.safe_cast(clean_text(adapter.quote('MntFishProducts')), 'double') }} as amount_fish,
        {{ dbt.safe_cast(clean_text(adapter.quote('MntSweetProducts')), 'double') }} as amount_sweets,
        {{ dbt.safe_cast(clean_text(adapter.quote('MntGoldProds')), 'double') }} as amount_gold,

        -- purchases by channel
        {{ dbt.safe_cast(clean_text(adapter.quote('NumDealsPurchases')), dbt.type_int()) }} as deals_purchases,
        {{ dbt.safe_cast(clean_text(adapter.quote('NumWebPurchases')), dbt.type_int()) }} as web_purchases,
        {{ dbt.safe_cast(clean_text(adapter.quote('NumCatalogPurchases')), dbt.type_int()) }} as catalog_purchases,
        {{ dbt.safe_cast(clean_text(adapter.quote('NumStorePurchases')), dbt.type_int()) }} as store_purchases,
        {{ dbt.safe_cast(clean_text(adapter.quote('NumWebVisitsMonth')), dbt.type_int()) }} as web_visits_last_month,
        {{ dbt.safe_cast(clean_text(adapter.quote('Recency')), dbt.type_int()) }} as recency_days,

        -- campaigns
        {{ dbt.safe_cast(clean_text(adapter.quote('AcceptedCmp1')), dbt.type_int()) }} as accepted_campaign_1,
        {{ dbt.safe_cast(clean_text(adapter.quote('AcceptedCmp2')), dbt.type_int()) }} as accepted_campaign_2,
        {{ dbt.safe_cast(clean_text(adapter.quote('AcceptedCmp3')), dbt.type_int()) }} as accepted_campaign_3,
        {{ dbt.safe_cast(clean_text(adapter.quote('AcceptedCmp4')), dbt.type_int()) }} as accepted_campaign_4,
        {{ dbt.safe_cast(clean_text(adapter.quote('AcceptedCmp5')), dbt.type_int()) }} as accepted_campaign_5,
        {{ dbt.safe_cast(clean_text(adapter.quote('Complain')), dbt.type_int()) }} as complained,
        {{ dbt.safe_cast(clean_text(adapter.quote('Z_CostContact')), 'double') }} as contact_cost,
        {{ dbt.safe_cast(clean_text(adapter.quote('Z_Revenue')), 'double') }} as response_revenue,
        {{ dbt.safe_cast(clean_text(adapter.quote('Response')), dbt.type_int()) }} as responded,

        -- dates
        {{ clean_text(adapter.quote('Dt_Customer')) }} as enrolled_on_text,
        {{ parse_date_dmy(clean_text(adapter.quote('Dt_Customer'))) }} as enrolled_on

    from source

)

select * from renamed
