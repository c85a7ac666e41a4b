"""The options ``load_backend("file", ...)`` accepts."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen
from omniq import _validate as check
from omniq.storage.polling import IDLE_POLL_MAX

__all__ = ["FORMATS", "MIN_POLL_INTERVAL", "FileOptions"]

FORMATS = ("json", "msgpack", "pickle")
MIN_POLL_INTERVAL = 0.0001
"""Polling more often than every 100 µs would only burn a core."""


def _format(_: object, __: object, value: str) -> None:
    if value not in FORMATS:
        raise ValueError(
            f"Invalid serialization_format {value!r}: use json (default), msgpack, or pickle "
            "(pickle runs code when loading: choose it only if you trust every writer)"
        )


_poll_interval = check.seconds_field(minimum=MIN_POLL_INTERVAL, maximum=60.0)


@frozen(kw_only=True)
class FileOptions:
    base_dir: str = "./omniq_data"
    """Local directory, or a path inside ``fsspec_uri``'s filesystem."""
    url: str | None = None
    """``file:///absolute/dir`` (or ``file://relative/dir``): wins over ``base_dir``."""
    fsspec_uri: str | None = None
    """An fsspec URL such as ``s3://bucket/prefix`` or ``memory://omniq``: wins over both."""
    storage_options: dict[str, Any] = field(factory=dict, repr=False)
    """Passed to the fsspec filesystem (credentials, endpoint_url, ...)."""
    serialization_format: str = field(default="json", validator=_format)
    fsync: bool = False
    """Flush each written file to disk before it becomes visible (survives power loss; slower).
    Without it a killed process loses nothing, but a power cut may lose the last writes."""
    poll_interval: float = field(default=0.005, validator=_poll_interval)
    """How soon a waiting worker first looks for other processes' new tasks (local: a ``stat``
    of the queue directory). Tasks enqueued in this process wake it at once."""
    idle_poll_interval: float = field(default=IDLE_POLL_MAX, validator=_poll_interval)
    """The longest pause between looks: each empty look doubles the pause from
    ``poll_interval`` up to this (100 ms), so an idle worker rests."""
    max_events: int = field(default=1_000_000, validator=check.count_field(minimum=1))
    """Events kept at most: each purge (the worker's, once a minute) deletes the oldest past it,
    after those older than ``event_retention``."""

    def location(self) -> tuple[str, str]:
        """``(protocol, root)``: ``("file", "/abs/dir")`` for local disks."""
        if self.fsspec_uri:
            protocol, sep, rest = self.fsspec_uri.partition("://")
            if not sep:
                return "file", self.fsspec_uri
            return protocol, rest
        if self.url:
            rest = self.url.removeprefix("file://")
            return "file", rest or "."
        return "file", self.base_dir
