-- Write one symbol's state unless the stored row is newer: a write for an older attempt
-- is dropped, a cancelled row never becomes unfinished or failed, and within one attempt
-- the state only moves forward (pending, running, retrying, then a final state), so a
-- final row returns to an unfinished state only with a higher attempt number.
INSERT INTO batch_execution_details AS d (
    batch_execution_id, stock_code, status, start_time, end_time, error_message,
    records_inserted, records_updated, attempts
)
VALUES (
    %(batch_id)s,
    %(stock_code)s,
    %(status)s::text,
    CASE WHEN %(status)s::text IN ('running', 'retrying', 'success', 'failed')
         THEN now() END,
    CASE WHEN %(status)s::text IN ('success', 'failed', 'cancelled') THEN now() END,
    %(error_message)s::text,
    coalesce(%(records_inserted)s::int, 0),
    coalesce(%(records_updated)s::int, 0),
    coalesce(%(attempt)s::int, 0)
)
ON CONFLICT (batch_execution_id, stock_code) DO UPDATE
SET status = excluded.status,
    -- A fetch started again after a final state is timed afresh; a retry is not.
    start_time = CASE
        WHEN d.status IN ('success', 'failed', 'cancelled')
             AND excluded.status = 'running' THEN excluded.start_time
        ELSE coalesce(d.start_time, excluded.start_time) END,
    -- A repeated final callback keeps the time the state was first reached.
    end_time = CASE
        WHEN excluded.end_time IS NULL THEN NULL
        WHEN d.status = excluded.status THEN coalesce(d.end_time, excluded.end_time)
        ELSE excluded.end_time END,
    error_message = CASE
        WHEN excluded.status IN ('pending', 'running', 'success')
             THEN excluded.error_message
        ELSE coalesce(excluded.error_message, d.error_message) END,
    records_inserted = coalesce(%(records_inserted)s::int, d.records_inserted),
    records_updated = coalesce(%(records_updated)s::int, d.records_updated),
    attempts = coalesce(%(attempt)s::int, d.attempts),
    updated_at = now()
WHERE (
        coalesce(%(attempt)s::int, d.attempts) > d.attempts
        OR (
            coalesce(%(attempt)s::int, d.attempts) = d.attempts
            AND CASE excluded.status
                    WHEN 'pending' THEN 0 WHEN 'running' THEN 1 WHEN 'retrying' THEN 2
                    ELSE 3 END
                >= CASE d.status
                    WHEN 'pending' THEN 0 WHEN 'running' THEN 1 WHEN 'retrying' THEN 2
                    ELSE 3 END
        )
    )
    -- A stop cancels the stock; the failure Airflow reports for the task it killed
    -- must not turn that into a failure. A success still counts: its rows were stored.
    AND NOT (
        d.status = 'cancelled'
        AND excluded.status IN ('pending', 'running', 'retrying', 'failed')
    )
RETURNING id
