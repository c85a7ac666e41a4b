"""The version of the tables this OmniQ writes (apart from :mod:`omniq_postgres.schema`, so
that checking it does not import SQLAlchemy: a worker process starts ~0.9 s sooner)."""

SCHEMA_VERSION = 1
"""Bump when a table changes, and add its upgrade to :data:`omniq_postgres.schema.UPGRADES`."""
