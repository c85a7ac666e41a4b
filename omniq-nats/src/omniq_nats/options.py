"""The options ``load_backend("nats", ...)`` accepts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from attrs import field, frozen
from omniq import _validate as check
from omniq import names
from omniq._redact import mask_url
from omniq.errors import ConfigurationError, InvalidValueError

__all__ = ["NATSOptions"]

SCHEMES = ("nats", "tls")
STORAGE_TYPES = ("file", "memory")


def _check_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"Invalid NATS server URL {mask_url(value)!r}: use nats://host:4222 or tls://host:4222"
        )
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65_535:
        raise InvalidValueError(
            "servers", mask_url(value), "URLs whose port is from 1 to 65,535 (nats://host:4222)"
        )
    if not parts.hostname:
        raise InvalidValueError("servers", mask_url(value), "URLs with a host (nats://host:4222)")


def _servers(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidValueError("servers", value, "a list of URLs (['nats://localhost:4222'])")
    return tuple(value)


def _validate_servers(_: object, __: object, value: tuple[str, ...]) -> None:
    for url in value:
        _check_url(url)


def _url(_: object, __: object, value: str | None) -> None:
    if value is not None:
        for url in value.split(","):
            _check_url(url.strip())


def _prefix(_: object, __: object, value: str) -> None:
    names.validate_name(value, "NATS prefix")
    if "-" in value:
        raise InvalidValueError(
            "prefix", value, "letters, digits and '_' (it names streams, buckets and subjects)"
        )


def _storage(_: object, __: object, value: str) -> None:
    if value not in STORAGE_TYPES:
        raise InvalidValueError("storage", value, "'file' (the default) or 'memory'")


_positive_seconds = check.seconds_field(above=True)


@frozen(kw_only=True)
class NATSOptions:
    url: str | None = field(default=None, validator=_url)
    """``nats://[user:password@]host:4222`` or ``tls://...``; several separated by commas.
    Joined with :attr:`servers`."""
    servers: tuple[str, ...] = field(
        default=("nats://localhost:4222",), converter=_servers, validator=_validate_servers
    )
    """The cluster's URLs; the client picks one and fails over to the others."""
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    nkeys_seed: str | None = field(default=None, repr=False)
    """Path of an nkey seed file."""
    credentials: str | None = None
    """Path of a ``.creds`` file (JWT and nkey seed)."""
    tls_ca: str | None = None
    """CA file for ``tls://`` servers (the system's CAs otherwise)."""
    prefix: str = field(default="omniq", validator=_prefix)
    """Starts every stream, bucket and subject name, so several apps can share one account."""
    storage: str = field(default="file", validator=_storage)
    """``file`` (survives a server restart) or ``memory``."""
    replicas: int = field(default=1, validator=check.count_field(minimum=1, maximum=5))
    """Copies of each stream and bucket in a cluster (3 survives the loss of one server)."""
    duplicate_window: float = field(default=120.0, validator=_positive_seconds)
    """Seconds the task stream remembers a ``Nats-Msg-Id`` (JetStream's duplicate window)."""
    ack_wait: float = field(default=30.0, validator=_positive_seconds)
    """The consumers' AckWait: the server redelivers a ticket nobody acknowledged or kept in
    progress for this long (the backstop behind the per-claim lease)."""
    max_deliveries: int = field(default=20, validator=check.count_field(minimum=1))
    """The consumers' MaxDeliver: a ticket the server delivered this often without an ack is
    dead-lettered through the max-deliveries advisory."""
    result_ttl: float = field(default=7 * 24 * 3600.0, validator=_positive_seconds)
    """The results bucket's TTL: no result outlives it (each result's own expiry is checked too)."""
    event_max_age: float = field(default=7 * 24 * 3600.0, validator=_positive_seconds)
    event_max_count: int = field(default=1_000_000, validator=check.count_field(minimum=1))
    connect_timeout: float = field(default=5.0, validator=_positive_seconds)
    request_timeout: float = field(default=10.0, validator=_positive_seconds)
    """How long one JetStream request may take before it fails."""

    @property
    def server_urls(self) -> list[str]:
        urls = [u.strip() for u in (self.url or "").split(",") if u.strip()]
        return urls or list(self.servers)

    def connect_kwargs(self) -> dict[str, Any]:
        """Arguments of ``nats.connect``."""
        kwargs: dict[str, Any] = {
            "servers": self.server_urls,
            "connect_timeout": self.connect_timeout,
            "drain_timeout": self.request_timeout,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
            "allow_reconnect": True,
        }
        if self.user is not None:
            kwargs["user"] = self.user
        if self.password is not None:
            kwargs["password"] = self.password
        if self.token is not None:
            kwargs["token"] = self.token
        if self.nkeys_seed is not None:
            kwargs["nkeys_seed"] = self.nkeys_seed
        if self.credentials is not None:
            kwargs["user_credentials"] = self.credentials
        if self.tls_ca is not None or any(u.startswith("tls://") for u in self.server_urls):
            import ssl

            kwargs["tls"] = ssl.create_default_context(cafile=self.tls_ca)
        return kwargs

    def describe(self) -> str:
        """Where the servers are, credentials masked (for errors and logs)."""
        return ", ".join(mask_url(url) for url in self.server_urls)
