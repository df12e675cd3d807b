-- Health of every model over time: one row per model x metric x run, with the strongest
-- baseline's value beside the model's and the data window, so a dashboard can chart it.

with

customer_models as (

    select * from {{ ref('customer_model_validation') }}
    where row_type = 'metric'

),

recommenders as (

    select * from {{ ref('recommender_outputs') }}
    where row_type = 'metric'

),

clusterings as (

    select
        min(source_system) as source_system,
        model_name,
        model_version,
        min(as_of_date) as as_of_date,
        max(cluster_count) as cluster_count,
        max(silhouette) as silhouette,
        count(*) as n_customers

    from {{ ref('customer_segments') }}
    group by model_name, model_version

),

clustering_metrics as (

    {% for metric in ['cluster_count', 'silhouette'] %}
    select
        {{ dbt.concat(["source_system", "'@'", "cast(cast(as_of_date as date) as " ~ dbt.type_string() ~ ")"]) }} as run_id,
        model_name,
        model_version,
        '{{ "chosen_k" if metric == "cluster_count" else "silhouette" }}' as metric,
        cast({{ metric }} as double) as value,
        cast(null as {{ dbt.type_string() }}) as baseline_name,
        cast(null as double) as baseline_value,
        cast(null as {{ dbt.type_timestamp() }}) as train_start,
        cast(as_of_date as {{ dbt.type_timestamp() }}) as train_end,
        cast(null as {{ dbt.type_timestamp() }}) as test_start,
        cast(null as {{ dbt.type_timestamp() }}) as test_end,
        n_customers,
        cast(null as {{ dbt.type_string() }}) as detail

    from clusterings
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select
    run_id, model_name, model_version, metric, value, baseline_name, baseline_value,
    train_start, train_end, test_start, test_end, n_customers, detail
from customer_models
union all
select
    run_id, model_name, model_version, metric, value, baseline_name, baseline_value,
    train_start, train_end, test_start, test_end, n_customers, detail
from recommenders
union all
select * from clustering_metrics
