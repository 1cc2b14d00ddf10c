DROP VIEW stocks_60m;
DROP VIEW stocks_1d, stocks_5d, stocks_1wk, stocks_1mo, stocks_3mo;
DROP VIEW stocks_1m, stocks_2m, stocks_5m, stocks_15m, stocks_30m, stocks_1h, stocks_90m;
DROP TABLE corporate_actions;
DROP TABLE intraday_prices;
DROP TABLE daily_prices;
