"""OmniQ's PostgreSQL backend: all four storage roles on a PostgreSQL server."""
