-- Every customer profile with the reason it cannot be used, or null when it is clean. Odd values
-- that leave the rest of the profile usable are cleaned, not rejected: a birth year before 1900
-- becomes null (and is flagged), and the joke marital statuses map to Single or Unknown.

with

profiles as (

    select * from {{ ref('stg_customer_profiles__customers') }}

),

flagged as (

    select
        *,
        row_number() over (partition by source_customer_id order by raw_row_id) > 1
            as is_duplicate

    from profiles

)

select
    *,
    birth_year is not null and birth_year < 1900 as has_implausible_birth_year,
    case
        when marital_status_raw in ('Single', 'Married', 'Together', 'Divorced', 'Widow')
            then marital_status_raw
        when marital_status_raw = 'Alone' then 'Single'
        else 'Unknown'
    end as marital_status,
    case
        when id_text is null then 'missing_customer_id'
        when source_customer_id is null then 'unreadable_customer_id'
        when is_duplicate then 'duplicate_customer_id'
        when enrolled_on is null then 'unreadable_enrolment_date'
    end as rejection_reason,
    {{ dbt.concat(["coalesce(id_text, '')", "'|'", "coalesce(enrolled_on_text, '')", "'|'",
                   "coalesce(marital_status_raw, '')"]) }} as raw_record

from flagged
