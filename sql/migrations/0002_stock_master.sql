-- The exchange's listed-issues list, and a log of every refresh of it.
-- depends: 0001_batch_record

CREATE TABLE stock_master (
    code           VARCHAR(16)  PRIMARY KEY,
    symbol         VARCHAR(32)  NOT NULL UNIQUE,
    name           TEXT         NOT NULL,
    market_segment TEXT,
    sector33_code  VARCHAR(8),
    sector33_name  TEXT,
    sector17_code  VARCHAR(8),
    sector17_name  TEXT,
    size_code      VARCHAR(8),
    size_category  TEXT,
    is_active      BOOLEAN      NOT NULL DEFAULT TRUE,
    list_date      DATE,
    first_seen_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    last_seen_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    delisted_at    TIMESTAMPTZ,
    updated_at     TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE INDEX stock_master_active_idx ON stock_master (is_active, code);

CREATE TABLE stock_master_updates (
    id             SERIAL PRIMARY KEY,
    source         TEXT        NOT NULL,
    list_date      DATE,
    status         VARCHAR(20) NOT NULL DEFAULT 'running',
    total_issues   INTEGER     NOT NULL DEFAULT 0,
    added          INTEGER     NOT NULL DEFAULT 0,
    changed        INTEGER     NOT NULL DEFAULT 0,
    delisted       INTEGER     NOT NULL DEFAULT 0,
    relisted       INTEGER     NOT NULL DEFAULT 0,
    error_message  TEXT,
    started_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at    TIMESTAMPTZ,
    CONSTRAINT stock_master_updates_status_check
        CHECK (status IN ('running', 'completed', 'failed'))
);
