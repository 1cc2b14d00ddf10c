-- The newest bulk runs, with their durations and failure rates.
SELECT batch_id, job_id, status, total_stocks, failed_stocks, duration_seconds,
       failure_rate
FROM batch_history
ORDER BY batch_id DESC
LIMIT %(limit)s
