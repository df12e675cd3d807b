-- The raw invoice lines this build validates, with their verdict, and why each is in the batch
-- (macros/incremental_batch.sql). In a full build it is empty and int_invoice_lines_validated is
-- built from every raw line instead.

-- a table: it is read after int_invoice_lines_validated has taken it in, and must not change by then
{{ config(materialized='table') }}

{{ incremental_batch(
    staging=ref('int_invoice_lines_unioned'),
    validated_model='int_invoice_lines_validated',
    duplicate_key=invoice_lines_duplicate_key(),
    unique_key=['source_system', 'raw_row_id'],
    columns=invoice_lines_validated_columns(),
    verdict=invoice_lines_verdict,
    derived_columns=invoice_lines_derived_columns(),
) }}
