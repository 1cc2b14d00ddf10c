-- The earliest stored bar of each symbol at one interval, NULL when none is stored:
-- one index probe per symbol.
SELECT k.symbol,
       (SELECT min(p.{bar})
        FROM {table} AS p
        WHERE p.symbol = k.symbol AND p.interval = %(interval)s) AS first_bar
FROM unnest(%(symbols)s::text[]) AS k (symbol)
