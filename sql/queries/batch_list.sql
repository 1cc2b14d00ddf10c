-- One page of batches, newest first. since is inclusive, until exclusive.
SELECT id, batch_type, status, total_stocks, processed_stocks, successful_stocks,
       failed_stocks, start_time, end_time, error_message, created_at, job_id, dag_id,
       parameters, updated_at
FROM batch_executions
WHERE (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(batch_type)s::text IS NULL OR batch_type = %(batch_type)s::text)
  AND (%(since)s::timestamptz IS NULL OR start_time >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR start_time < %(until)s::timestamptz)
ORDER BY start_time DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
