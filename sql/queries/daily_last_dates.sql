-- The newest stored daily bar of each symbol (NULL when none is stored). One backward
-- scan of the primary key per symbol, so it stays cheap for the whole universe.
SELECT s.symbol,
       (SELECT max(d.date)
        FROM daily_prices AS d
        WHERE d.symbol = s.symbol AND d.interval = '1d') AS last_date
FROM unnest(%(symbols)s::text[]) AS s (symbol)
