{{ stage_invoice_lines(
    source_name='online_retail',
    invoice_column='InvoiceNo',
    price_column='UnitPrice',
    customer_column='CustomerID',
) }}
