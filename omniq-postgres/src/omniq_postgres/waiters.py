"""This process's waiters, woken by the server's notifications (and by this process's own
writes), with a wake-all for when notifications may have been missed (a reconnect).

A wake can carry a value (:meth:`NotifiedWaiters.offer`): a result stored by this process, or
one a notification carried, so that its waiter returns it without reading it back (a round trip
saved on the path from enqueue to result). An offer is numbered; a waiter takes only an offer
made after it began to wait (:meth:`NotifiedWaiters.mark`), so a value older than what it read
itself is never handed to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from omniq.storage.wakeup import Waiters

__all__ = ["NotifiedWaiters"]


class NotifiedWaiters(Waiters[str]):
    """Keys: ``q:<queue>`` (tasks ready), ``r:<task id>`` (a result), ``e`` (events)."""

    def __init__(self) -> None:
        super().__init__()
        self._offers: dict[str, tuple[int, Any]] = {}
        self._numbered = 0

    def wake_all(self) -> None:
        with self._lock:
            keys = list(self._waiting)
        for key in keys:
            self.wake(key)

    def mark(self) -> int:
        """The number of the latest offer: a waiter takes only later ones."""
        return self._numbered

    def offer(self, key: str, value: Any) -> None:
        """Wake ``key``'s waiters with ``value`` (dropped at once when nobody waits)."""
        with self._lock:
            if key not in self._waiting:
                return
            self._numbered += 1
            self._offers[key] = (self._numbered, value)
        self.wake(key)

    def offered(self, key: str, since: int) -> Any:
        """The value offered for ``key`` after offer number ``since``, else None."""
        found = self._offers.get(key)
        return found[1] if found is not None and found[0] > since else None

    def unregister(self, keys: Iterable[str], future: Any) -> None:
        keys = tuple(keys)
        super().unregister(keys, future)
        if self._offers:
            with self._lock:
                for key in keys:
                    if key not in self._waiting:
                        self._offers.pop(key, None)
