-- Close a refresh record whose load did not happen.
UPDATE stock_master_updates
SET status = 'failed',
    error_message = %(error_message)s,
    finished_at = now()
WHERE id = %(update_id)s
