-- Store corporate actions (arrays of equal length, one action per position); answer
-- every action inserted or changed, `inserted` telling which were not stored before.
-- The source sends each (symbol, kind, date) once per batch: the store removed
-- duplicates first.
INSERT INTO corporate_actions AS a (symbol, kind, date, value)
SELECT n.symbol, n.kind, n.date, n.value
FROM unnest(%(symbols)s::text[], %(kinds)s::text[], %(dates)s::date[],
            %(values)s::double precision[]) AS n (symbol, kind, date, value)
ORDER BY n.symbol, n.kind, n.date
ON CONFLICT (symbol, kind, date) DO UPDATE SET
    value = excluded.value,
    updated_at = now()
WHERE a.value IS DISTINCT FROM excluded.value
RETURNING a.symbol, a.kind, a.date, a.value, (a.xmax = 0) AS inserted
