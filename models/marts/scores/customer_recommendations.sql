-- The recommendations served: the recommendation rows of the recommenders' run.

select
    customer_id,
    cast(rank as {{ dbt.type_bigint() }}) as rank,
    product_id,
    score,
    model_name,
    reason,
    source_system

from {{ ref('recommender_outputs') }}
where row_type = 'recommendation'
