-- The symbols that failed most often across every run, with their latest reason.
SELECT symbol, failures, last_error
FROM stock_failure_counts
ORDER BY failures DESC, symbol
LIMIT %(limit)s
