-- How many batches match the filters of batch_list.sql (keep the two in step).
SELECT count(*)
FROM batch_executions
WHERE (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(batch_type)s::text IS NULL OR batch_type = %(batch_type)s::text)
  AND (%(since)s::timestamptz IS NULL OR start_time >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR start_time < %(until)s::timestamptz)
