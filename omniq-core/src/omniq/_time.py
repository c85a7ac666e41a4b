"""Clock helpers: OmniQ keeps every timestamp as an aware UTC ``datetime``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["UTC", "as_utc", "as_utc_or_none", "from_timestamp", "to_seconds", "utcnow"]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; naive datetimes are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def as_utc_or_none(value: datetime | None) -> datetime | None:
    """:func:`as_utc` that lets ``None`` through (an attrs converter for optional times)."""
    return None if value is None else as_utc(value)


def from_timestamp(seconds: float) -> datetime:
    """An aware UTC datetime from POSIX seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def to_seconds(value: float | timedelta) -> float:
    """Seconds from a number or a ``timedelta``."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
