-- Serialize stores that share a symbol: each takes its symbols' transaction-level
-- advisory locks, in the order given (ascending keys, so two stores never wait on
-- each other in a circle), before it looks at what is stored.
SELECT count(pg_advisory_xact_lock(k.key))
FROM unnest(%(keys)s::bigint[]) AS k (key)
