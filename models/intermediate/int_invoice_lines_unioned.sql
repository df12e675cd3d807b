-- Both UCI Online Retail formats, stacked; their source_system keeps their keys apart. A view:
-- int_invoice_lines_validated reads it once.
{{ config(materialized='view') }}

select * from {{ ref('stg_online_retail__invoice_lines') }}
union all
select * from {{ ref('stg_online_retail_ii__invoice_lines') }}
