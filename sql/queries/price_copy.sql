-- Load the bars of symbols with nothing stored at this interval, straight into the
-- price table: the store holds their advisory locks, so no other store adds them.
COPY {table} (symbol, interval, {bar}, open, high, low, close, adj_close, volume,
              is_final)
FROM STDIN (FORMAT BINARY)
