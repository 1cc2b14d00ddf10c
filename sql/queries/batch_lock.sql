-- Serialize every writer of one batch (see BatchService._lock_batch for why).
SELECT status FROM batch_executions WHERE id = %(batch_id)s FOR UPDATE
