-- One row per clean Customer Personality Analysis profile: demographics, spending by category,
-- purchases by channel and campaign responses.

with

profiles as (

    select * from {{ ref('int_customer_profiles_validated') }}
    where rejection_reason is null

)

select
    {{ source_key('source_system', 'source_customer_id') }} as customer_id,
    source_system,
    source_customer_id,
    case when has_implausible_birth_year then null else birth_year end as birth_year,
    has_implausible_birth_year,
    education,
    marital_status,
    marital_status_raw,
    income,
    kids_at_home,
    teens_at_home,
    enrolled_on,
    recency_days,
    amount_wines,
    amount_fruits,
    amount_meat,
    amount_fish,
    amount_sweets,
    amount_gold,
    amount_wines + amount_fruits + amount_meat + amount_fish + amount_sweets + amount_gold
        as amount_total,
    deals_purchases,
    web_purchases,
    catalog_purchases,
    store_purchases,
    web_visits_last_month,
    accepted_campaign_1,
    accepted_campaign_2,
    accepted_campaign_3,
    accepted_campaign_4,
    accepted_campaign_5,
    complained = 1 as has_complained,
    contact_cost,
    response_revenue,
    responded

from profiles
