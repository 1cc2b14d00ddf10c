-- Staging for one store: bars arrive here by binary COPY and vanish at commit.
-- `item` is the position of the bar's symbol in the batch's symbol list (from 0);
-- `adj_close` NaN stands for NULL (binary COPY rows here carry no NULLs).
CREATE TEMP TABLE price_staging (
    item      INTEGER          NOT NULL,
    bar       {bar_type}       NOT NULL,
    open      DOUBLE PRECISION NOT NULL,
    high      DOUBLE PRECISION NOT NULL,
    low       DOUBLE PRECISION NOT NULL,
    close     DOUBLE PRECISION NOT NULL,
    adj_close DOUBLE PRECISION NOT NULL,
    volume    BIGINT           NOT NULL,
    is_final  BOOLEAN          NOT NULL
) ON COMMIT DROP
