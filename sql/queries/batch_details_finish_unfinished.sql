-- Close every detail row that never reached a final state.
UPDATE batch_execution_details
SET status = %(status)s,
    error_message = %(reason)s,
    end_time = now(),
    updated_at = now()
WHERE batch_execution_id = %(batch_id)s
  AND status IN ('pending', 'running', 'retrying')
