-- Give a batch its final status; the caller has checked that it is not final yet.
UPDATE batch_executions
SET status = %(status)s,
    end_time = now(),
    error_message = coalesce(%(error_message)s, error_message),
    updated_at = now()
WHERE id = %(batch_id)s
RETURNING id, batch_type, status, total_stocks, processed_stocks, successful_stocks,
       failed_stocks, start_time, end_time, error_message, created_at, job_id, dag_id,
       parameters, updated_at
