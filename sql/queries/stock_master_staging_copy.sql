COPY stock_master_staging (
    code, symbol, name, market_segment, sector33_code, sector33_name,
    sector17_code, sector17_name, size_code, size_category, list_date
) FROM STDIN
