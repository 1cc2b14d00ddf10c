-- Move the staged bars into the price table. Answer, for each symbol with bars
-- stored before, how many bars were inserted and updated; every bar of a symbol
-- with nothing stored is inserted (the INSERT adds them all or fails).
--
-- Bars of a symbol with nothing stored (`known` false) go in by a plain INSERT:
-- the store holds the symbol's advisory lock, so no other store adds its bars
-- meanwhile, and ON CONFLICT's per-row speculative insertion (1.5 times the
-- backend CPU of a plain INSERT, measured) would buy nothing. Bars of every other
-- symbol go through INSERT ... ON CONFLICT DO UPDATE. A staged bar equal to the
-- stored one is filtered out before that INSERT, so it is neither rewritten nor
-- locked (ON CONFLICT would lock it and log the lock); the probe is a LATERAL
-- subquery with LIMIT, which keeps it an index lookup per staged row whatever the
-- table statistics say. The ON CONFLICT clause repeats the comparison, so a row
-- written by someone else meanwhile is still handled right.
WITH batch AS (
    SELECT b.symbol, b.known, (b.position - 1)::integer AS item
    FROM unnest(%(symbols)s::text[], %(known)s::boolean[])
         WITH ORDINALITY AS b (symbol, known, position)
),
fresh AS (
    INSERT INTO {table}
        (symbol, interval, {bar}, open, high, low, close, adj_close, volume, is_final)
    SELECT b.symbol, %(interval)s, s.bar, s.open, s.high, s.low, s.close,
           NULLIF(s.adj_close, 'NaN'), s.volume, s.is_final
    FROM price_staging AS s
    JOIN batch AS b ON b.item = s.item
    WHERE NOT b.known
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
    WHERE b.known
      AND (stored.open, stored.high, stored.low, stored.close, stored.adj_close,
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
