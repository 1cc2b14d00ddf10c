-- Views shipped for people who query the history with SQL (see README "SQL analytics").
-- depends: 0003_prices

-- The newest stored daily close of every symbol, with the bar's date and finality.
CREATE VIEW latest_closes AS
    SELECT DISTINCT ON (symbol)
           symbol, date, close, adj_close, volume, is_final
    FROM daily_prices
    WHERE interval = '1d'
    ORDER BY symbol, date DESC;

-- Daily returns from adjusted closes, so splits and dividends do not show up as jumps.
CREATE VIEW daily_returns AS
    SELECT symbol,
           date,
           adj_close,
           adj_close / NULLIF(LAG(adj_close) OVER w, 0) - 1 AS daily_return
    FROM daily_prices
    WHERE interval = '1d' AND adj_close IS NOT NULL
    WINDOW w AS (PARTITION BY symbol ORDER BY date);

-- Every bulk run with its duration and failure rate.
CREATE VIEW batch_history AS
    SELECT id AS batch_id,
           job_id,
           batch_type,
           status,
           total_stocks,
           successful_stocks,
           failed_stocks,
           start_time,
           end_time,
           EXTRACT(EPOCH FROM (COALESCE(end_time, now()) - start_time)) AS duration_seconds,
           ROUND(failed_stocks::numeric / NULLIF(total_stocks, 0), 4) AS failure_rate
    FROM batch_executions;

-- The symbols that failed most often across all runs, with their latest reason.
CREATE VIEW stock_failure_counts AS
    SELECT stock_code AS symbol,
           COUNT(*) AS failures,
           MAX(end_time) AS last_failed_at,
           (ARRAY_AGG(error_message ORDER BY end_time DESC NULLS LAST))[1] AS last_error
    FROM batch_execution_details
    WHERE status = 'failed'
    GROUP BY stock_code;
