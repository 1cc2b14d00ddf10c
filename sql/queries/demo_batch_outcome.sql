-- One batch's stocks by final state, and the rows its fetches wrote.
SELECT COUNT(*)                                  AS stocks,
       COUNT(*) FILTER (WHERE status = 'success') AS successful,
       COUNT(*) FILTER (WHERE status = 'failed')  AS failed,
       COUNT(*) FILTER (WHERE status NOT IN ('success', 'failed', 'cancelled'))
                                                 AS unfinished,
       COALESCE(SUM(records_inserted), 0)        AS rows_inserted,
       COALESCE(SUM(records_updated), 0)         AS rows_updated
FROM batch_execution_details
WHERE batch_execution_id = %(batch_id)s
