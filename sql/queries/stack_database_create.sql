-- The name is composed in with psycopg.sql.Identifier: it cannot be a bound parameter.
CREATE DATABASE {name}
