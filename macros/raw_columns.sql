{#- Portable helpers for turning raw text or typed values into clean columns. -#}

{#- A stable id for a raw row: the file's base name and the row's position in it. -#}
{% macro raw_row_id() -%}
    {{ return(adapter.dispatch('raw_row_id', 'globalshop')()) }}
{%- endmacro %}

{% macro duckdb__raw_row_id() -%}
    parse_filename(filename) || ':' || cast(file_row_number as varchar)
{%- endmacro %}

{#- On Spark, raw_source already gives the base name (_metadata.file_name). -#}
{% macro spark__raw_row_id() -%}
    concat(filename, ':', cast(file_row_number as string))
{%- endmacro %}


{#- The base name of the raw file a row comes from (raw_row_id starts with it). -#}
{% macro raw_file_name() -%}
    {{ return(adapter.dispatch('raw_file_name', 'globalshop')()) }}
{%- endmacro %}

{% macro duckdb__raw_file_name() -%}
    parse_filename(filename)
{%- endmacro %}

{% macro spark__raw_file_name() -%}
    filename
{%- endmacro %}


{#- Text as it was in the file, trimmed, with empty strings as null. Only text that starts or
    ends with a space goes through trim, which writes a copy of every string, even one it leaves
    as it is: staging the 42M-event log's nine columns took 19-20 s with trim on every value,
    9-10 s this way (BENCHMARKS.md, issue 6, item 33). trim removes spaces only, on DuckDB and
    Spark alike, so the text is the same. -#}
{% macro clean_text(expr) -%}
    {%- set text = "cast(" ~ expr ~ " as " ~ dbt.type_string() ~ ")" -%}
    nullif(case when {{ text }} like ' %' or {{ text }} like '% ' then trim({{ text }}) else {{ text }} end, '')
{%- endmacro %}


{#- A timestamp from a typed value or text, including the event log's trailing " UTC" and the
    month/day/year form of the Kaggle copy of Online Retail. Null when it cannot be read. -#}
{% macro parse_timestamp(expr) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'globalshop')(expr)) }}
{%- endmacro %}

{% macro duckdb__parse_timestamp(expr) -%}
    coalesce(
        try_cast(replace(cast({{ expr }} as varchar), ' UTC', '') as timestamp),
        try_strptime(cast({{ expr }} as varchar), '%m/%d/%Y %H:%M')
    )
{%- endmacro %}

{#- dbt-spark turns ANSI mode off, so a cast or to_timestamp that cannot read its text gives null. -#}
{% macro spark__parse_timestamp(expr) -%}
    coalesce(
        cast(replace(cast({{ expr }} as string), ' UTC', '') as timestamp),
        to_timestamp(cast({{ expr }} as string), 'M/d/yyyy H:mm')
    )
{%- endmacro %}


{#- A date written day-month-year, as Customer Personality Analysis writes Dt_Customer. -#}
{% macro parse_date_dmy(expr) -%}
    {{ return(adapter.dispatch('parse_date_dmy', 'globalshop')(expr)) }}
{%- endmacro %}

{% macro duckdb__parse_date_dmy(expr) -%}
    coalesce(
        try_cast(try_strptime(cast({{ expr }} as varchar), '%d-%m-%Y') as date),
        try_cast(cast({{ expr }} as varchar) as date)
    )
{%- endmacro %}

{% macro spark__parse_date_dmy(expr) -%}
    coalesce(
        to_date(cast({{ expr }} as string), 'd-M-yyyy'),
        cast(cast({{ expr }} as string) as date)
    )
{%- endmacro %}


{#- A numeric id written as an integer or as a float ("17850.0"), as text. Null when not
    numeric. Integers are read as integers first: 19-digit category ids lose digits as doubles. -#}
{% macro clean_numeric_id(expr) -%}
    cast(coalesce(
        {{ dbt.safe_cast(clean_text(expr), dbt.type_bigint()) }},
        {{ dbt.safe_cast(dbt.safe_cast(clean_text(expr), 'double'), dbt.type_bigint()) }}
    ) as {{ dbt.type_string() }})
{%- endmacro %}


{#- A key that carries its source system, so ids from two sources never collide. -#}
{% macro source_key(source_system_expr, id_expr) -%}
    case when {{ id_expr }} is not null then {{ dbt.concat([source_system_expr, "':'", id_expr]) }} end
{%- endmacro %}


{#- A date, typed or as ISO text, or written as yyyymmdd as in the CDNOW master file. -#}
{% macro parse_date_compact(expr) -%}
    {{ return(adapter.dispatch('parse_date_compact', 'globalshop')(expr)) }}
{%- endmacro %}

{% macro duckdb__parse_date_compact(expr) -%}
    coalesce(
        try_cast(try_strptime(cast({{ expr }} as varchar), '%Y%m%d') as date),
        try_cast(cast({{ expr }} as varchar) as date)
    )
{%- endmacro %}

{% macro spark__parse_date_compact(expr) -%}
    coalesce(
        to_date(cast({{ expr }} as string), 'yyyyMMdd'),
        cast(cast({{ expr }} as string) as date)
    )
{%- endmacro %}


{#- dbt-duckdb's safe_cast is a plain cast, which fails the whole build on one unreadable value
    ("six" in a quantity column). try_cast gives null instead, and the validation models then
    quarantine the row with its reason. dbt_project.yml's dispatch setting makes dbt.safe_cast
    find this implementation first. -#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}


{#- The validation models' date bounds: a row is dated no earlier than var('shop_opened_on'), and
    no later than the day after the build started (a day of slack for time zones). -#}
{% macro shop_opened_on_date() -%}
    cast('{{ var('shop_opened_on', '1990-01-01') }}' as date)
{%- endmacro %}

{% macro latest_valid_date() -%}
    cast('{{ (run_started_at + modules.datetime.timedelta(days=1)).strftime('%Y-%m-%d') }}' as date)
{%- endmacro %}


{#- The doubles a price cannot be, as a list for `in (...)`. -#}
{% macro non_finite_doubles() -%}
    cast('NaN' as double), cast('Infinity' as double), cast('-Infinity' as double)
{%- endmacro %}


{#- A rejected row's raw values as one text, `|` between them (empty for a missing value), so the
    quarantine can show the row without its file. -#}
{% macro raw_record(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(" ~ column ~ ", '')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}
