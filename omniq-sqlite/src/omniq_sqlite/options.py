"""The options ``load_backend("sqlite", ...)`` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import field, frozen

__all__ = ["JOURNAL_MODES", "SYNCHRONOUS_LEVELS", "SQLiteOptions"]

JOURNAL_MODES = ("WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY")
SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


def _upper(value: Any) -> str:
    return str(value).upper()


def _one_of(allowed: tuple[str, ...]) -> Any:
    def check(_: object, attribute: Any, value: str) -> None:
        if value not in allowed:
            raise ValueError(f"Invalid {attribute.name} {value!r}: use one of {', '.join(allowed)}")

    return check


def _positive(_: object, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"Invalid {attribute.name} {value!r}: use a number > 0")


@frozen(kw_only=True)
class SQLiteOptions:
    database_path: str = "omniq.db"
    """The database file (``db_path`` is accepted too); created if missing."""
    url: str | None = None
    """``sqlite:///relative.db``, ``sqlite:////absolute.db`` or a bare path; wins over
    ``database_path``."""
    timeout: float = field(default=30.0, validator=_positive)
    """Seconds a write waits for another process's write to finish before failing."""
    journal_mode: str = field(default="WAL", converter=_upper, validator=_one_of(JOURNAL_MODES))
    synchronous: str = field(
        default="NORMAL", converter=_upper, validator=_one_of(SYNCHRONOUS_LEVELS)
    )
    """``NORMAL`` (default, with WAL) survives a killed process but may lose the last commits on
    power loss; ``FULL`` survives both, at a cost measured in the README."""
    cache_size: int = -16_000
    """SQLite's ``cache_size`` pragma: pages, or KiB when negative (default 16 MiB)."""
    poll_interval: float = field(default=0.002, validator=_positive)
    """How often an idle worker checks whether another process committed (a cheap
    ``PRAGMA data_version``); writes of this process wake it at once."""

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
