-- Record that a refresh of the listed-issues list started; returns its id.
INSERT INTO stock_master_updates (source, status)
VALUES (%(source)s, 'running')
RETURNING id
