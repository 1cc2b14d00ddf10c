-- The detail rows of some symbols of one batch: what a fetch task needs to know
-- which of its symbols are still open.
SELECT stock_code, status, attempts
FROM batch_execution_details
WHERE batch_execution_id = %(batch_id)s
  AND stock_code = ANY(%(symbols)s)
