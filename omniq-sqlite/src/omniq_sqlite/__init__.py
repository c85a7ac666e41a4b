"""OmniQ's SQLite backend: the embedded default for all four storage roles."""
