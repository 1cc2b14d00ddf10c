-- One pending detail row per symbol, the whole list in one statement.
INSERT INTO batch_execution_details (batch_execution_id, stock_code)
SELECT %(batch_id)s, symbol
FROM unnest(%(symbols)s::text[]) AS symbol
ON CONFLICT (batch_execution_id, stock_code) DO NOTHING
