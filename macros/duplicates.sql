{#- Select every row of `relation` with is_duplicate: true for each later copy (by raw_row_id) of
    a row with the same `duplicate_key` columns, as
    `row_number() over (partition by <duplicate_key> order by raw_row_id) > 1` would give.

    Ranking every row sorts the whole wide table by its key: at 42M events that window took more
    time than parsing and writing the rows did (BENCHMARKS.md, item 21). Real duplicates are a
    few rows in a hundred at most, so a hash aggregate first finds the keys held by more than one
    row, and only their rows are ranked. A hash shared by two different keys only adds rows to
    rank: the window compares the columns themselves. `unique_key` (a list of columns) joins the
    verdict back to the rows.

    `relation` is read three times: a CTE passed here should be an `inlined_cte()`. -#}
{% macro flag_duplicates(relation, duplicate_key, unique_key) -%}
    {%- set key_hash = duplicate_key_hash(duplicate_key) -%}
    select
        candidate.*,
        duplicates.{{ unique_key[0] }} is not null as is_duplicate

    from {{ relation }} as candidate
    left join (
        select {{ unique_key | join(', ') }}
        from (
            select
                {{ unique_key | join(', ') }},
                row_number() over (
                    partition by {{ duplicate_key | join(', ') }}
                    order by raw_row_id
                ) > 1 as is_duplicate

            from {{ relation }}
            where {{ key_hash }} in (
                select {{ key_hash }}
                from {{ relation }}
                group by {{ key_hash }}
                having count(*) > 1
            )
        ) as ranked
        where is_duplicate
    ) as duplicates
        on {% for column in unique_key -%}
            candidate.{{ column }} = duplicates.{{ column }}{{ " and " if not loop.last }}
        {%- endfor %}
{%- endmacro %}


{#- A 64-bit hash of `columns` (nulls included), equal for rows with equal values. -#}
{% macro duplicate_key_hash(columns) -%}
    {{ return(adapter.dispatch('duplicate_key_hash', 'globalshop')(columns)) }}
{%- endmacro %}

{% macro duckdb__duplicate_key_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__duplicate_key_hash(columns) -%}
    xxhash64({{ columns | join(', ') }})
{%- endmacro %}

{#- Elsewhere an md5 of the columns as text: slower, and nulls hash as empty strings, which only
    adds rows to rank. -#}
{% macro default__duplicate_key_hash(columns) -%}
    {{ dbt.hash(raw_record(columns)) }}
{%- endmacro %}
