-- Increment in SQL so that concurrent callers never lose each other's counts.
UPDATE batch_executions
SET processed_stocks = processed_stocks + %(processed)s,
    successful_stocks = successful_stocks + %(successful)s,
    failed_stocks = failed_stocks + %(failed)s,
    updated_at = now()
WHERE id = %(batch_id)s
RETURNING id, batch_type, status, total_stocks, processed_stocks, successful_stocks,
       failed_stocks, start_time, end_time, error_message, created_at, job_id, dag_id,
       parameters, updated_at
