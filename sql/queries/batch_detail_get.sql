SELECT id, batch_execution_id, stock_code, status, start_time, end_time, error_message,
       records_inserted, created_at, records_updated, attempts, updated_at
FROM batch_execution_details
WHERE batch_execution_id = %(batch_id)s AND stock_code = %(stock_code)s
