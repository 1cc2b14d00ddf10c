-- Prices as the source published them: raw OHLC, adjusted close, volume.
-- Daily and longer bars carry the exchange-local trading date; intraday bars carry the
-- UTC instant their bar starts. DOUBLE PRECISION holds every digit of the float64
-- values Yahoo publishes (an FX rate near 0.0083 included).
-- depends: 0002_stock_master

CREATE TABLE daily_prices (
    symbol     VARCHAR(32)      NOT NULL,
    interval   VARCHAR(4)       NOT NULL,
    date       DATE             NOT NULL,
    open       DOUBLE PRECISION,
    high       DOUBLE PRECISION,
    low        DOUBLE PRECISION,
    close      DOUBLE PRECISION NOT NULL,
    adj_close  DOUBLE PRECISION,
    volume     BIGINT           NOT NULL DEFAULT 0,
    is_final   BOOLEAN          NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    -- The key doubles as the index for "latest bars of a symbol" (scanned backwards).
    CONSTRAINT daily_prices_pkey PRIMARY KEY (symbol, interval, date),
    CONSTRAINT daily_prices_interval_check
        CHECK (interval IN ('1d', '5d', '1wk', '1mo', '3mo')),
    CONSTRAINT daily_prices_volume_check CHECK (volume >= 0)
);

CREATE INDEX daily_prices_date_idx ON daily_prices (interval, date);

CREATE TABLE intraday_prices (
    symbol     VARCHAR(32)      NOT NULL,
    interval   VARCHAR(4)       NOT NULL,
    bar_start  TIMESTAMPTZ      NOT NULL,
    open       DOUBLE PRECISION,
    high       DOUBLE PRECISION,
    low        DOUBLE PRECISION,
    close      DOUBLE PRECISION NOT NULL,
    adj_close  DOUBLE PRECISION,
    volume     BIGINT           NOT NULL DEFAULT 0,
    is_final   BOOLEAN          NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    CONSTRAINT intraday_prices_pkey PRIMARY KEY (symbol, interval, bar_start),
    CONSTRAINT intraday_prices_interval_check
        CHECK (interval IN ('1m', '2m', '5m', '15m', '30m', '1h', '90m')),
    CONSTRAINT intraday_prices_volume_check CHECK (volume >= 0)
);

CREATE INDEX intraday_prices_time_idx ON intraday_prices (interval, bar_start);

CREATE TABLE corporate_actions (
    symbol     VARCHAR(32)      NOT NULL,
    kind       VARCHAR(16)      NOT NULL,
    date       DATE             NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    created_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    CONSTRAINT corporate_actions_pkey PRIMARY KEY (symbol, kind, date),
    CONSTRAINT corporate_actions_kind_check
        CHECK (kind IN ('dividend', 'split', 'capital_gain'))
);

-- The original application's per-interval tables, as views over the two price tables,
-- so SQL written against it keeps working.
CREATE VIEW stocks_1d AS
    SELECT symbol, date, open, high, low, close, volume, adj_close
    FROM daily_prices WHERE interval = '1d';
CREATE VIEW stocks_5d AS
    SELECT symbol, date, open, high, low, close, volume, adj_close
    FROM daily_prices WHERE interval = '5d';
CREATE VIEW stocks_1wk AS
    SELECT symbol, date, open, high, low, close, volume, adj_close
    FROM daily_prices WHERE interval = '1wk';
CREATE VIEW stocks_1mo AS
    SELECT symbol, date, open, high, low, close, volume, adj_close
    FROM daily_prices WHERE interval = '1mo';
CREATE VIEW stocks_3mo AS
    SELECT symbol, date, open, high, low, close, volume, adj_close
    FROM daily_prices WHERE interval = '3mo';
CREATE VIEW stocks_1m AS
    SELECT symbol, bar_start AS datetime, open, high, low, close, volume, adj_close
    FROM intraday_prices WHERE interval = '1m';
CREATE VIEW stocks_2m AS
    SELECT symbol, bar_start AS datetime, open, high, low, close, volume, adj_close
    FROM intraday_prices WHERE interval = '2m';
CREATE VIEW stocks_5m AS
    SELECT symbol, bar_start AS datetime, open, high, low, close, volume, adj_close
    FROM intraday_prices WHERE interval = '5m';
CREATE VIEW stocks_15m AS
    SELECT symbol, bar_start AS datetime, open, high, low, close, volume, adj_close
    FROM intraday_prices WHERE interval = '15m';
CREATE VIEW stocks_30m AS
    SELECT symbol, bar_start AS datetime, open, high, low, close, volume, adj_close
    FROM intraday_prices WHERE interval = '30m';
CREATE VIEW stocks_1h AS
    SELECT symbol, bar_start AS datetime, open, high, low, close, volume, adj_close
    FROM intraday_prices WHERE interval = '1h';
CREATE VIEW stocks_60m AS
    SELECT * FROM stocks_1h;
CREATE VIEW stocks_90m AS
    SELECT symbol, bar_start AS datetime, open, high, low, close, volume, adj_close
    FROM intraday_prices WHERE interval = '90m';
