-- The newest stored close of the given symbols, with the issuer's name.
SELECT c.symbol, m.name, c.date, c.close, c.volume
FROM latest_closes AS c
LEFT JOIN stock_master AS m ON m.symbol = c.symbol
WHERE c.symbol = ANY(%(symbols)s)
ORDER BY c.symbol
