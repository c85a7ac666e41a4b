"""The options ``load_backend("postgres", ...)`` accepts."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from attrs import field, frozen
from omniq import _validate as check
from omniq._redact import mask_url
from omniq.errors import ConfigurationError

__all__ = ["SCHEMES", "PostgresOptions"]

SCHEMES = ("postgresql", "postgres")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,49}")


def _dsn(_: object, __: object, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            "Invalid PostgreSQL dsn: use postgresql://user:password@host:5432/database"
        )
    scheme = urlsplit(value).scheme
    if "://" in value and scheme not in SCHEMES:
        raise ConfigurationError(
            f"Invalid PostgreSQL dsn scheme {scheme!r} in {mask_url(value)!r}: use "
            "postgresql://user:password@host:5432/database (or postgres://), or a libpq "
            "key=value string"
        )


def _schema(_: object, __: object, value: str) -> None:
    if not isinstance(value, str) or not _SCHEMA.fullmatch(value):
        raise ConfigurationError(
            f"Invalid PostgreSQL schema {value!r}: use 1 to 50 lowercase letters, digits and "
            "'_', starting with a letter or '_' (such as omniq or myapp_jobs)"
        )


def _sslmode(_: object, __: object, value: str | None) -> None:
    if value is not None and value not in SSL_MODES:
        raise ConfigurationError(f"Invalid sslmode {value!r}: use one of {', '.join(SSL_MODES)}")


_positive_seconds = check.seconds_field(above=True, maximum=86_400.0)
_poll = check.seconds_field(minimum=0.01, maximum=60.0)


@frozen(kw_only=True)
class PostgresOptions:
    dsn: str | None = field(default=None, validator=_dsn)
    """``postgresql://user:password@host:5432/database`` (``postgres://`` too; libpq's
    ``?host=/socket/dir`` and ``sslmode=`` work) or a libpq ``key=value`` string; ``url`` is
    accepted too. What it names wins over host/port/database/username."""
    host: str = "localhost"
    port: int = field(default=5432, validator=check.port_field())
    database: str = "omniq"
    """``dbname`` and ``db`` are accepted too."""
    username: str | None = None
    """``user`` is accepted too; libpq's default (the system user) when unset."""
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = field(default=None, validator=_sslmode)
    schema: str = field(default="public", validator=_schema)
    """The schema OmniQ's tables live in (created if missing), so several apps can share one
    database; each schema is its own set of queues, results, events and schedules."""
    min_connections: int = field(default=1, validator=check.count_field(minimum=0, maximum=1000))
    max_connections: int = field(default=10, validator=check.count_field(minimum=1, maximum=1000))
    statement_timeout: float = field(default=30.0, validator=_positive_seconds)
    """Seconds a statement may run before the server cancels it."""
    connect_timeout: float = field(default=10.0, validator=_positive_seconds)
    """Seconds to wait for a connection (a new one, or a free one of the pool)."""
    poll_interval: float = field(default=1.0, validator=_poll)
    """The safety net under LISTEN/NOTIFY: an idle worker, a result wait and an event follower
    look again at least this often, so a notification lost in a reconnect stalls nothing for
    longer."""
    max_events: int = field(default=1_000_000, validator=check.count_field(minimum=1))
    """Events kept at most: each purge (the worker's, once a minute) deletes the oldest past it,
    after those older than ``event_retention``."""

    def __attrs_post_init__(self) -> None:
        if self.min_connections > self.max_connections:
            raise ConfigurationError(
                f"Invalid min_connections {self.min_connections}: use at most max_connections "
                f"({self.max_connections})"
            )

    def conninfo(self) -> str:
        """The libpq connection string (the dsn, or one made from the separate options)."""
        from psycopg.conninfo import make_conninfo

        extra: dict[str, Any] = {}
        if self.password is not None:
            extra["password"] = self.password
        if self.sslmode is not None:
            extra["sslmode"] = self.sslmode
        if self.dsn:
            if self.username is not None:
                extra["user"] = self.username
            return make_conninfo(self.dsn, **extra)
        if self.username is not None:
            extra["user"] = self.username
        return make_conninfo(host=self.host, port=self.port, dbname=self.database, **extra)

    def describe(self) -> str:
        """Where the server is, with any password masked (for errors and logs)."""
        from omniq._redact import mask_secrets

        if self.dsn:
            return mask_secrets(mask_url(self.dsn))
        user = f"{self.username}@" if self.username else ""
        return f"postgresql://{user}{self.host}:{self.port}/{self.database}"
