"""psycopg's and the pool's exceptions as OmniQ's errors, each naming the server (password
masked) and the fix; no raw psycopg exception reaches a caller."""

from __future__ import annotations

import psycopg
from omniq._redact import mask_secrets
from omniq.errors import StorageError, StorageUnavailableError
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

__all__ = ["SchemaVersionError", "is_reconnectable", "translate"]


class SchemaVersionError(StorageError):
    """The schema was written by a newer OmniQ whose tables this one does not know."""


def is_reconnectable(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection was lost or the server is restarting (another
    connection may succeed), not that the statement was wrong."""
    if isinstance(exc, (pg_errors.AdminShutdown, pg_errors.CrashShutdown,
                        pg_errors.CannotConnectNow, pg_errors.ConnectionException)):  # fmt: skip
        return True
    if isinstance(exc, psycopg.OperationalError):
        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate is None:
            return True  # a client-side failure: the connection broke
        return bool(sqlstate.startswith(("08", "57P")))
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return mask_secrets(text[0] if text else type(exc).__name__)


def translate(where: str, exc: BaseException, *, connecting: bool = False) -> StorageError:
    """The OmniQ error for ``exc`` raised while talking to the server at ``where``."""
    message = _first_line(exc)
    lowered = str(exc).lower()
    if isinstance(exc, PoolTimeout):
        return StorageUnavailableError(
            f"PostgreSQL at {where}: no connection within connect_timeout ({message}). Is the "
            "server up and reachable? Raise max_connections (a pool of this process) or "
            "connect_timeout if the pool is busy."
        )
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return StorageError(
            f"PostgreSQL at {where} refused the credentials ({message}): check the username "
            "and password in the dsn (or the username/password options)."
        )
    if "does not exist" in lowered and "database" in lowered and connecting:
        return StorageError(
            f"PostgreSQL at {where}: {message}. Create it (createdb, or CREATE DATABASE) or name "
            "an existing one in the dsn / database option."
        )
    if "role" in lowered and "does not exist" in lowered and connecting:
        return StorageError(
            f"PostgreSQL at {where}: {message}. Create the role (CREATE ROLE ... LOGIN) or fix "
            "the username in the dsn / username option."
        )
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return StorageError(
            f"PostgreSQL at {where}: {message}. OmniQ creates its schema and tables on first "
            "connect: grant the role CREATE on the database and schema (GRANT CREATE ON "
            "DATABASE ... / ON SCHEMA ... TO ...), or create them once as an owner."
        )
    if isinstance(exc, pg_errors.QueryCanceled):
        return StorageUnavailableError(
            f"PostgreSQL at {where}: a statement ran past statement_timeout ({message}). The "
            "server is overloaded or a lock is held; raise the statement_timeout option if "
            "that is expected."
        )
    if connecting or is_reconnectable(exc):
        hint = (
            "Is the server running and is this a PostgreSQL port? Check host, port and sslmode"
            if connecting
            else "The connection was lost; the next call reconnects"
        )
        return StorageUnavailableError(f"cannot use PostgreSQL at {where}: {message}. {hint}.")
    return StorageError(f"PostgreSQL at {where} failed: {message}")
