-- The batch record: one row per bulk run, one row per stock in it.
-- Column names and types of the original Phase 2 application are kept as they were;
-- kabuflow's additions follow them.

CREATE TABLE batch_executions (
    id                SERIAL PRIMARY KEY,
    batch_type        VARCHAR(50)  NOT NULL,
    status            VARCHAR(20)  NOT NULL DEFAULT 'running',
    total_stocks      INTEGER      NOT NULL DEFAULT 0,
    processed_stocks  INTEGER      NOT NULL DEFAULT 0,
    successful_stocks INTEGER      NOT NULL DEFAULT 0,
    failed_stocks     INTEGER      NOT NULL DEFAULT 0,
    start_time        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    end_time          TIMESTAMPTZ,
    error_message     TEXT,
    created_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    job_id            VARCHAR(250) UNIQUE,
    dag_id            VARCHAR(250),
    parameters        JSONB        NOT NULL DEFAULT '{}'::jsonb,
    updated_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT batch_executions_status_check
        CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'paused')),
    CONSTRAINT batch_executions_counters_check
        CHECK (total_stocks >= 0 AND processed_stocks >= 0
               AND successful_stocks >= 0 AND failed_stocks >= 0)
);

CREATE INDEX batch_executions_status_idx ON batch_executions (status);
CREATE INDEX batch_executions_start_time_idx ON batch_executions (start_time DESC);
CREATE INDEX batch_executions_type_start_idx ON batch_executions (batch_type, start_time DESC);

CREATE TABLE batch_execution_details (
    id                 SERIAL PRIMARY KEY,
    batch_execution_id INTEGER     NOT NULL
        REFERENCES batch_executions (id) ON DELETE CASCADE,
    stock_code         VARCHAR(32) NOT NULL,
    status             VARCHAR(20) NOT NULL DEFAULT 'pending',
    start_time         TIMESTAMPTZ,
    end_time           TIMESTAMPTZ,
    error_message      TEXT,
    records_inserted   INTEGER     NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    records_updated    INTEGER     NOT NULL DEFAULT 0,
    attempts           INTEGER     NOT NULL DEFAULT 0,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT batch_execution_details_batch_stock_key
        UNIQUE (batch_execution_id, stock_code),
    CONSTRAINT batch_execution_details_status_check
        CHECK (status IN ('pending', 'running', 'retrying', 'success', 'failed', 'cancelled'))
);

CREATE INDEX batch_execution_details_stock_idx
    ON batch_execution_details (stock_code, created_at DESC);
CREATE INDEX batch_execution_details_status_idx
    ON batch_execution_details (batch_execution_id, status);
