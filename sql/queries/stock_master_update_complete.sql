-- Close a refresh record with what the load changed.
UPDATE stock_master_updates
SET status = 'completed',
    list_date = %(list_date)s,
    total_issues = %(total_issues)s,
    added = %(added)s,
    changed = %(changed)s,
    delisted = %(delisted)s,
    relisted = %(relisted)s,
    finished_at = now()
WHERE id = %(update_id)s
