DROP TABLE batch_execution_details;
DROP TABLE batch_executions;
