-- Derive a batch's counters from its detail rows. A batch without detail rows keeps the
-- counters that update_batch_progress gave it. A recount that changes nothing writes
-- nothing, so repeating a write leaves updated_at alone.
UPDATE batch_executions AS b
SET processed_stocks = c.processed,
    successful_stocks = c.successful,
    failed_stocks = c.failed,
    updated_at = now()
FROM (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status IN ('success', 'failed', 'cancelled'))
               AS processed,
           count(*) FILTER (WHERE status = 'success') AS successful,
           count(*) FILTER (WHERE status = 'failed') AS failed
    FROM batch_execution_details
    WHERE batch_execution_id = %(batch_id)s
) AS c
WHERE b.id = %(batch_id)s
  AND c.total > 0
  AND (b.processed_stocks, b.successful_stocks, b.failed_stocks)
      IS DISTINCT FROM (c.processed, c.successful, c.failed)
