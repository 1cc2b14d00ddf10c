-- Move the staged bars (only symbols with bars stored before are staged) into the
-- price table; answer, for each symbol, how many bars were inserted and updated. (Symbols
-- with nothing stored are copied straight into the table, see kabuflow.store.)
--
-- A staged bar equal to the stored one is filtered out before the INSERT, so it is
-- neither rewritten nor locked (ON CONFLICT would lock it and log the lock); the
-- probe is a LATERAL subquery with LIMIT, which keeps it an index lookup per staged
-- row whatever the table statistics say. The ON CONFLICT clause repeats the
-- comparison, so a row written by someone else meanwhile is still handled right.
WITH batch AS (
    SELECT b.symbol, (b.position - 1)::integer AS item
    FROM unnest(%(symbols)s::text[]) WITH ORDINALITY AS b (symbol, position)
),
changed AS (
    SELECT b.symbol, s.bar, s.open, s.high, s.low, s.close,
           NULLIF(s.adj_close, 'NaN') AS adj_close, s.volume, s.is_final
    FROM price_staging AS s
    JOIN batch AS b ON b.item = s.item
    LEFT JOIN LATERAL (
        SELECT p.open, p.high, p.low, p.close, p.adj_close, p.volume, p.is_final
        FROM {table} AS p
        WHERE p.symbol = b.symbol AND p.interval = %(interval)s AND p.{bar} = s.bar
        LIMIT 1
    ) AS stored ON true
    WHERE (stored.open, stored.high, stored.low, stored.close, stored.adj_close,
           stored.volume, stored.is_final)
          IS DISTINCT FROM
          (s.open, s.high, s.low, s.close, NULLIF(s.adj_close, 'NaN'),
           s.volume, s.is_final)
),
upserted AS (
    INSERT INTO {table} AS p
        (symbol, interval, {bar}, open, high, low, close, adj_close, volume, is_final)
    SELECT c.symbol, %(interval)s, c.bar, c.open, c.high, c.low, c.close, c.adj_close,
           c.volume, c.is_final
    FROM changed AS c
    ON CONFLICT (symbol, interval, {bar}) DO UPDATE SET
        open = excluded.open,
        high = excluded.high,
        low = excluded.low,
        close = excluded.close,
        adj_close = excluded.adj_close,
        volume = excluded.volume,
        is_final = excluded.is_final,
        updated_at = now()
    WHERE (p.open, p.high, p.low, p.close, p.adj_close, p.volume, p.is_final)
          IS DISTINCT FROM
          (excluded.open, excluded.high, excluded.low, excluded.close,
           excluded.adj_close, excluded.volume, excluded.is_final)
    RETURNING p.symbol, (p.xmax = 0) AS inserted
)
SELECT symbol,
       count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM upserted
GROUP BY symbol
