SELECT id, batch_type, status, total_stocks, processed_stocks, successful_stocks,
       failed_stocks, start_time, end_time, error_message, created_at, job_id, dag_id,
       parameters, updated_at
FROM batch_executions
WHERE job_id = %(job_id)s
