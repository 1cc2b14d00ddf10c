-- The daily universe: active ordinary shares. ETFs, REITs and other funds carry no
-- 33-sector code; PRO Market issues trade only among professional investors and are
-- mostly absent from Yahoo Finance.
SELECT symbol
FROM stock_master
WHERE is_active
  AND sector33_code IS NOT NULL
  AND market_segment IS DISTINCT FROM 'PRO Market'
ORDER BY code
