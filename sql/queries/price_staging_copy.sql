COPY price_staging (item, bar, open, high, low, close, adj_close, volume, is_final)
FROM STDIN (FORMAT BINARY)
