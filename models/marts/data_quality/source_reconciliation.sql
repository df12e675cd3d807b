-- For every raw source: rows read, rows in the marts and rows quarantined. A test asserts that
-- raw_rows = clean_rows + quarantined_rows on every line.

with

raw_counts as (

    select source_system, count(*) as raw_rows
    from {{ ref('int_invoice_lines_unioned') }}
    group by source_system

    union all

    {% for staging_model in ['stg_events__events', 'stg_cdnow__transactions',
                             'stg_customer_profiles__customers'] %}
    select source_system, count(*) as raw_rows
    from {{ ref(staging_model) }}
    group by source_system
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

clean_counts as (

    -- events reach the marts as events; their purchases are also order lines, so not counted twice
    select source_system, count(*) as clean_rows
    from {{ ref('fct_order_lines') }}
    where source_system != 'events'
    group by source_system

    union all

    select source_system, count(*) as clean_rows
    from {{ ref('fct_events') }}
    group by source_system

    union all

    select source_system, count(*) as clean_rows
    from {{ ref('dim_customer_profiles') }}
    group by source_system

),

quarantine_counts as (

    select source_system, count(*) as quarantined_rows
    from {{ ref('quarantined_rows') }}
    group by source_system

)

select
    raw_counts.source_system,
    raw_counts.raw_rows,
    coalesce(clean_counts.clean_rows, 0) as clean_rows,
    coalesce(quarantine_counts.quarantined_rows, 0) as quarantined_rows,
    raw_counts.raw_rows
        - coalesce(clean_counts.clean_rows, 0)
        - coalesce(quarantine_counts.quarantined_rows, 0) as unaccounted_rows

from raw_counts
left join clean_counts on raw_counts.source_system = clean_counts.source_system
left join quarantine_counts on raw_counts.source_system = quarantine_counts.source_system
