-- Create a running batch; a job_id seen before inserts nothing and returns no row.
INSERT INTO batch_executions (batch_type, total_stocks, job_id, dag_id, parameters)
VALUES (%(batch_type)s, %(total_stocks)s, %(job_id)s, %(dag_id)s, %(parameters)s)
ON CONFLICT (job_id) DO NOTHING
RETURNING id
