-- Both UCI Online Retail formats, stacked; their source_system keeps their keys apart.
select * from {{ ref('stg_online_retail__invoice_lines') }}
union all
select * from {{ ref('stg_online_retail_ii__invoice_lines') }}
