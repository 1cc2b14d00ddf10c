-- Is there a database of this name on the server? (the stack creates it if not)
SELECT 1 FROM pg_database WHERE datname = %(name)s
