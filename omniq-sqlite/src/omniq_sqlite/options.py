"""The options ``load_backend("sqlite", ...)`` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import field, frozen
from omniq import _validate as check
from omniq.storage.polling import IDLE_POLL_MAX

__all__ = [
    "JOURNAL_MODES",
    "MAX_TIMEOUT",
    "MIN_POLL_INTERVAL",
    "SYNCHRONOUS_LEVELS",
    "SQLiteOptions",
]

JOURNAL_MODES = ("WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY")
SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


def _upper(value: Any) -> str:
    return str(value).upper()


def _one_of(allowed: tuple[str, ...]) -> Any:
    def validate(_: object, attribute: Any, value: str) -> None:
        if value not in allowed:
            raise ValueError(f"Invalid {attribute.name} {value!r}: use one of {', '.join(allowed)}")

    return validate


MAX_TIMEOUT = 86_400.0
"""The longest ``timeout``: one day (SQLite's busy timeout is an int of milliseconds)."""
MIN_POLL_INTERVAL = 0.0001
"""Polling more often than every 100 µs would only burn a core."""

_timeout = check.seconds_field(above=True, maximum=MAX_TIMEOUT)
_poll_interval = check.seconds_field(minimum=MIN_POLL_INTERVAL, maximum=60.0)
_cache_size = check.count_field(minimum=-(2**31), maximum=2**31 - 1)


@frozen(kw_only=True)
class SQLiteOptions:
    database_path: str = "omniq.db"
    """The database file (``db_path`` is accepted too); created if missing."""
    url: str | None = None
    """``sqlite:///relative.db``, ``sqlite:////absolute.db`` or a bare path; wins over
    ``database_path``."""
    timeout: float = field(default=30.0, validator=_timeout)
    """Seconds a write waits for another process's write to finish before failing."""
    journal_mode: str = field(default="WAL", converter=_upper, validator=_one_of(JOURNAL_MODES))
    synchronous: str = field(
        default="NORMAL", converter=_upper, validator=_one_of(SYNCHRONOUS_LEVELS)
    )
    """``NORMAL`` (default, with WAL) survives a killed process but may lose the last commits on
    power loss; ``FULL`` survives both, at a cost measured in the README."""
    cache_size: int = field(default=-16_000, validator=_cache_size)
    """SQLite's ``cache_size`` pragma: pages, or KiB when negative (default 16 MiB)."""
    poll_interval: float = field(default=0.002, validator=_poll_interval)
    """How soon a waiting worker first checks whether another process committed (a cheap
    ``PRAGMA data_version``); writes of this process wake it at once."""
    idle_poll_interval: float = field(default=IDLE_POLL_MAX, validator=_poll_interval)
    """The longest pause between checks: each empty check doubles the pause from
    ``poll_interval`` up to this (100 ms), so an idle worker rests."""
    max_events: int = field(default=1_000_000, validator=check.count_field(minimum=1))
    """Events kept at most: each purge (the worker's, once a minute) deletes the oldest past it,
    after those older than ``event_retention``."""

    @property
    def path(self) -> str:
        """The database file this configuration names."""
        if self.url:
            url = self.url
            if url.startswith("sqlite://"):
                rest = url[len("sqlite://") :]
                return rest[1:] if rest.startswith("/") else rest
            return url
        return self.database_path

    @property
    def in_memory(self) -> bool:
        return self.path in ("", ":memory:")

    def resolved_path(self) -> Path:
        return Path(self.path).expanduser()
