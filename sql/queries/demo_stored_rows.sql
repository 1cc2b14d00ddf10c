-- Daily bars stored for the given symbols, whichever run stored them.
SELECT COUNT(*)
FROM daily_prices
WHERE interval = '1d'
  AND symbol = ANY(%(symbols)s)
