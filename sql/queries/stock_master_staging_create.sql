-- Staging table for one refresh; it disappears when the transaction ends.
CREATE TEMPORARY TABLE stock_master_staging (
    code           VARCHAR(16) PRIMARY KEY,
    symbol         VARCHAR(32) NOT NULL,
    name           TEXT        NOT NULL,
    market_segment TEXT,
    sector33_code  VARCHAR(8),
    sector33_name  TEXT,
    sector17_code  VARCHAR(8),
    sector17_name  TEXT,
    size_code      VARCHAR(8),
    size_category  TEXT,
    list_date      DATE        NOT NULL
) ON COMMIT DROP
