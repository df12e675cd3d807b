{#-
    The event chain (int_events_validated -> fct_events, sessionized -> fct_sessions and
    fct_customer_product_activity) is incremental on DuckDB. How an increment is processed:

    1. int_events_batch lists the raw rows this build validates (macros/incremental_batch.sql):
       every row of a raw file not yet loaded, the loaded rows identical to one of them (so a
       duplicate across the increment boundary is ranked with its twin, exactly as in a full
       build) and the loaded rows quarantined as date_in_future (checked again against today's
       date).
    2. int_events_validated replaces those rows by raw_row_id.
    3. Each user with a clean (or newly duplicated) row in the batch is "reopened" from the time of
       their earliest such row (events_reopened below). Events before that time keep their
       session; the downstream models delete the reopened user's rows from that time on and build
       them again from the clean events, continuing from the user's last earlier event. Session
       ids are the user and the session's first event time, so they do not depend on what was
       loaded before.

    So an increment gives the same tables as a full rebuild, however late its events are.
    var('event_lookback_days') is the lateness expected of routine increments: an event older
    than that many days before the newest already-loaded event is still placed correctly, and the
    warning test events_arrived_after_lookback lists it (test_failures schema).

    On other engines (Spark) the chain is built as plain tables, rebuilt in full every time.
-#}

{#- The raw columns that make two event rows exact duplicates. -#}
{% macro events_duplicate_key() -%}
    {{ return(['event_at_text', 'event_type', 'product_id_text', 'source_category_id', 'category_code',
               'brand', 'price_text', 'user_id_text', 'user_session']) }}
{%- endmacro %}


{#- The columns int_events_validated derives from the staged ones. -#}
{% macro events_derived_columns() -%}
    {{ return(['is_duplicate', 'rejection_reason', 'raw_record']) }}
{%- endmacro %}


{#- The columns of int_events_validated, in order: stg_events__events, then the verdict. -#}
{% macro events_validated_columns() -%}
    {{ return(['raw_row_id', 'raw_file_name', 'source_system', 'user_id_text', 'source_user_id',
               'product_id_text', 'source_product_id', 'source_category_id', 'user_session',
               'event_type', 'category_code', 'brand', 'price_text', 'price', 'event_at_text',
               'event_at'] + events_derived_columns()) }}
{%- endmacro %}


{#- Select the rows of `relation` (staging columns plus is_duplicate) with their verdict:
    rejection_reason (first rule that applies) and, for a rejected row, raw_record (the quarantine
    shows it; at tens of millions of clean events the text would double the table). -#}
{% macro events_verdict(relation) -%}
    select
        *,
        case when rejection_reason is not null then {{ raw_record(events_duplicate_key()) }}
        end as raw_record

    from (

    select
        *,
        case
            when user_id_text is null then 'missing_user_id'
            when source_user_id is null then 'unreadable_user_id'
            when user_session is null then 'missing_user_session'
            when event_at is null then 'unreadable_event_time'
            when cast(event_at as date) > {{ latest_valid_date() }} then 'date_in_future'
            when cast(event_at as date) < {{ shop_opened_on_date() }} then 'date_before_shop_opened'
            when event_type is null
                or event_type not in ('view', 'cart', 'remove_from_cart', 'purchase')
                then 'unknown_event_type'
            when source_product_id is null then 'missing_product_id'
            when price is null then 'unreadable_price'
            when price in ({{ non_finite_doubles() }}) then 'non_finite_price'
            when price < 0 then 'negative_price'
            when event_type = 'purchase' and price = 0 then 'non_positive_price'
            when is_duplicate then 'duplicate_event'
        end as rejection_reason

    from {{ relation }}

    ) as judged
{%- endmacro %}


{#- One row per user the increment reopens, from the time of their earliest batch row that is
    clean or a duplicate (a duplicate may have taken the place of a loaded clean event). Call it
    only in incremental runs of models that declare `-- depends_on: ref('int_events_batch')`. -#}
{% macro events_reopened() -%}
    select
        source_user_id,
        {{ source_key("'events'", 'source_user_id') }} as customer_id,
        min(event_at) as reopen_from

    from {{ ref('int_events_batch') }}
    where source_user_id is not null
        and event_at is not null
        and (rejection_reason is null or rejection_reason = 'duplicate_event')
    group by source_user_id
{%- endmacro %}


{#- pre_hook of the incremental event marts: delete the reopened users' rows from `time_expr`
    (a column of the model) on; the model's SQL then inserts them again. `user_column` matches
    events_reopened's `user_key` (source_user_id or customer_id). `reopened_at` turns reopen_from
    into the model's time (the day of it, or so many minutes before it). -#}
{% macro delete_reopened_events(time_expr, user_column, user_key, reopened_at='reopen_from') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as built
        using ({{ events_reopened() }}) as reopened
        where built.{{ user_column }} = reopened.{{ user_key }}
            and built.{{ time_expr }} >= {{ reopened_at }}
    {%- endif -%}
{%- endmacro %}
