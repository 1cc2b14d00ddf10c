-- Merge the staged list into stock_master and count what changed. Every CTE reads the
-- table as it was before this statement, so the counts describe the list against the
-- previous state: new codes, active codes whose attributes differ, inactive codes that
-- are back (relisted, attributes refreshed), and active codes the list no longer has
-- (delisted). Present codes always get last_seen_at and the list's date.
WITH classified AS (
    SELECT s.code,
           m.code IS NULL AS is_new,
           m.code IS NOT NULL AND NOT m.is_active AS is_relisted,
           m.code IS NOT NULL AND m.is_active
               AND (m.symbol, m.name, m.market_segment, m.sector33_code, m.sector33_name,
                    m.sector17_code, m.sector17_name, m.size_code, m.size_category)
                   IS DISTINCT FROM
                   (s.symbol, s.name, s.market_segment, s.sector33_code, s.sector33_name,
                    s.sector17_code, s.sector17_name, s.size_code, s.size_category)
               AS is_changed
    FROM stock_master_staging AS s
    LEFT JOIN stock_master AS m USING (code)
),
merged AS (
    INSERT INTO stock_master AS m (
        code, symbol, name, market_segment, sector33_code, sector33_name,
        sector17_code, sector17_name, size_code, size_category, list_date
    )
    SELECT code, symbol, name, market_segment, sector33_code, sector33_name,
           sector17_code, sector17_name, size_code, size_category, list_date
    FROM stock_master_staging
    ON CONFLICT (code) DO UPDATE
    SET symbol = excluded.symbol,
        name = excluded.name,
        market_segment = excluded.market_segment,
        sector33_code = excluded.sector33_code,
        sector33_name = excluded.sector33_name,
        sector17_code = excluded.sector17_code,
        sector17_name = excluded.sector17_name,
        size_code = excluded.size_code,
        size_category = excluded.size_category,
        list_date = excluded.list_date,
        last_seen_at = now(),
        updated_at = CASE
            WHEN NOT m.is_active
                 OR (m.symbol, m.name, m.market_segment, m.sector33_code,
                     m.sector33_name, m.sector17_code, m.sector17_name, m.size_code,
                     m.size_category)
                    IS DISTINCT FROM
                    (excluded.symbol, excluded.name, excluded.market_segment,
                     excluded.sector33_code, excluded.sector33_name,
                     excluded.sector17_code, excluded.sector17_name,
                     excluded.size_code, excluded.size_category)
                 THEN now()
            ELSE m.updated_at END,
        is_active = TRUE,
        delisted_at = NULL
    RETURNING 1
),
delisted AS (
    UPDATE stock_master AS m
    SET is_active = FALSE,
        delisted_at = now(),
        updated_at = now()
    WHERE m.is_active
      AND NOT EXISTS (SELECT 1 FROM stock_master_staging AS s WHERE s.code = m.code)
    RETURNING 1
)
SELECT (SELECT count(*) FROM merged) AS total_issues,
       count(*) FILTER (WHERE is_new) AS added,
       count(*) FILTER (WHERE is_changed) AS changed,
       (SELECT count(*) FROM delisted) AS delisted,
       count(*) FILTER (WHERE is_relisted) AS relisted
FROM classified
