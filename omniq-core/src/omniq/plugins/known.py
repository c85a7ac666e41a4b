"""The first-party backends: which distribution provides each, and the URL schemes that select it.

This table lets OmniQ give the exact fix (``pip install ./omniq-redis``) for a backend that is not
installed, and pick a backend from a URL (``redis://...``) without importing any plugin. A backend
only exists once its distribution is installed; this table never makes one available.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from omniq.storage import Role

__all__ = [
    "BACKEND_ALIASES",
    "FROM_THE_REPOSITORY",
    "KNOWN_BACKENDS",
    "KnownBackend",
    "backend_for_scheme",
    "canonical_name",
]


FROM_THE_REPOSITORY = (
    "in a clone of the OmniQ repository; OmniQ's distributions are not on PyPI yet, and PyPI's "
    "'omniq' is an unrelated project"
)
"""Where ``pip install ./omniq-...`` works, until the distributions are published."""


def install_command(distribution: str) -> str:
    """The command that installs ``distribution``, and where to run it."""
    return f"pip install ./{distribution} ({FROM_THE_REPOSITORY})"


@frozen
class KnownBackend:
    """A first-party backend, described without importing it."""

    name: str
    distribution: str
    module: str
    url_schemes: tuple[str, ...]
    roles: frozenset[Role] = frozenset(Role)

    @property
    def install_command(self) -> str:
        return install_command(self.distribution)


KNOWN_BACKENDS: Mapping[str, KnownBackend] = {
    known.name: known
    for known in (
        KnownBackend("memory", "omniq-core", "omniq.memory.plugin", ("memory",)),
        KnownBackend("sqlite", "omniq-sqlite", "omniq_sqlite.plugin", ("sqlite",)),
        KnownBackend(
            "postgres", "omniq-postgres", "omniq_postgres.plugin", ("postgres", "postgresql")
        ),
        KnownBackend("redis", "omniq-redis", "omniq_redis.plugin", ("redis", "rediss")),
        KnownBackend("nats", "omniq-nats", "omniq_nats.plugin", ("nats", "tls")),
        KnownBackend("file", "omniq-file", "omniq_file.plugin", ("file",)),
    )
}

BACKEND_ALIASES: Mapping[str, str] = {"postgresql": "postgres"}
"""Other spellings users write for a first-party backend's name."""

_SCHEMES: Mapping[str, str] = {
    scheme: known.name for known in KNOWN_BACKENDS.values() for scheme in known.url_schemes
}


def canonical_name(name: str) -> str:
    """``name`` as backends register it: stripped, lower-case, aliases resolved."""
    name = name.strip().lower()
    return BACKEND_ALIASES.get(name, name)


def backend_for_scheme(scheme: str) -> str | None:
    """The first-party backend a URL scheme selects (``"rediss"`` -> ``"redis"``), if any."""
    return _SCHEMES.get(scheme.lower())
