{{ stage_invoice_lines(
    source_name='online_retail_ii',
    invoice_column='Invoice',
    price_column='Price',
    customer_column='Customer ID',
) }}
