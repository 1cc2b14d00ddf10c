-- The largest daily returns among the given symbols on their newest common date.
WITH returns AS (
    SELECT symbol, date, daily_return
    FROM daily_returns
    WHERE symbol = ANY(%(symbols)s)
)
SELECT r.symbol, m.name, r.date, r.daily_return
FROM returns AS r
LEFT JOIN stock_master AS m ON m.symbol = r.symbol
WHERE r.date = (SELECT MAX(date) FROM returns)
  AND r.daily_return IS NOT NULL
ORDER BY ABS(r.daily_return) DESC, r.symbol
LIMIT %(limit)s
