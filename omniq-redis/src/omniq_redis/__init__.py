"""OmniQ's Redis backend: all four storage roles on redis-server."""
