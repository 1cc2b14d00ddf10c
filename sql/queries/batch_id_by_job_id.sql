SELECT id FROM batch_executions WHERE job_id = %(job_id)s
