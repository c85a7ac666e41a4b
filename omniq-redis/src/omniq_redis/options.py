"""The options ``load_backend("redis", ...)`` accepts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from attrs import field, frozen
from omniq import _validate as check
from omniq import names
from omniq._redact import mask_url
from omniq.errors import ConfigurationError, InvalidValueError

__all__ = ["RedisOptions"]

SCHEMES = ("redis", "rediss", "unix")


def _prefix(_: object, __: object, value: str) -> None:
    names.validate_name(value, "Redis key_prefix")


def _url(_: object, __: object, value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"Invalid Redis URL scheme {parts.scheme!r}: use redis://host:port/db, rediss:// (TLS) "
            "or unix:///path/to/redis.sock"
        )
    if parts.scheme == "unix":
        return
    try:
        port = parts.port
    except ValueError:  # out of range, or not a number
        port = -1
    if port is not None and not 1 <= port <= 65_535:
        raise InvalidValueError(
            "url",
            mask_url(value),
            "a URL whose port is an integer from 1 to 65,535 (redis://host:6379/0)",
        )
    db = parts.path.strip("/")
    if db and not (db.isdigit() and int(db) <= _MAX_DB):
        raise InvalidValueError(
            "url", mask_url(value), f"a URL whose path is a database number from 0 to {_MAX_DB:,}"
        )


_MAX_DB = 2**31 - 1
_positive_seconds = check.seconds_field(above=True)


@frozen(kw_only=True)
class RedisOptions:
    url: str | None = field(default=None, validator=_url)
    """``redis://[user:password@]host:port/db``, ``rediss://`` (TLS) or ``unix:///path``;
    wins over host/port/db."""
    host: str = "localhost"
    port: int = field(default=6379, validator=check.port_field())
    db: int = field(default=0, validator=check.count_field(maximum=_MAX_DB))
    """``database`` is accepted too."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    ssl_ca_certs: str | None = None
    max_connections: int = field(default=50, validator=check.count_field(minimum=1, maximum=10_000))
    key_prefix: str = field(default="omniq", validator=_prefix)
    """Every key starts with it, so several apps can share one server."""
    socket_timeout: float = field(default=30.0, validator=_positive_seconds)
    socket_connect_timeout: float = field(default=5.0, validator=_positive_seconds)
    max_events: int = field(default=1_000_000, validator=check.count_field(minimum=1))
    """Events kept at most (the oldest are dropped first)."""
    event_ttl: float = field(default=7 * 24 * 3600.0, validator=_positive_seconds)
    """Seconds a task's event index is kept after its last event."""

    def client_kwargs(self) -> dict[str, Any]:
        """Arguments of redis-py's connection pool (from the URL, or host/port/db)."""
        common: dict[str, Any] = {
            "max_connections": self.max_connections,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
        }
        if self.username is not None:
            common["username"] = self.username
        if self.password is not None:
            common["password"] = self.password
        if self.url:
            return {"url": self.url, **common}
        kwargs = {"host": self.host, "port": self.port, "db": self.db, **common}
        if self.ssl:
            kwargs["ssl"] = True
            if self.ssl_ca_certs:
                kwargs["ssl_ca_certs"] = self.ssl_ca_certs
        return kwargs

    def describe(self) -> str:
        """Where the server is, with any password masked (for errors and logs)."""
        from omniq._redact import mask_url

        if self.url:
            return mask_url(self.url)
        scheme = "rediss" if self.ssl else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"
