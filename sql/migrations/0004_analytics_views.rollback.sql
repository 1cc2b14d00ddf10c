DROP VIEW stock_failure_counts;
DROP VIEW batch_history;
DROP VIEW daily_returns;
DROP VIEW latest_closes;
