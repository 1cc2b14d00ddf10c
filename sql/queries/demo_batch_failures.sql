-- The stocks of one batch that failed, with the reason each gave.
SELECT stock_code AS symbol, error_message
FROM batch_execution_details
WHERE batch_execution_id = %(batch_id)s
  AND status = 'failed'
ORDER BY stock_code
LIMIT %(limit)s
