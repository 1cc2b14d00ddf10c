-- The date of the newest list a completed refresh loaded (NULL before the first).
SELECT max(list_date) FROM stock_master_updates WHERE status = 'completed'
