"""This process's waiters, woken by the server's notifications (and by this process's own
writes), with a wake-all for when notifications may have been missed (a reconnect).

A wake can carry a value (:meth:`NotifiedWaiters.offer`): a result this process just stored,
so that its waiter here returns it without reading it back (a round trip saved on the path
from enqueue to result). A waiter takes an offer only from a statement that began after the
waiter did (:meth:`~NotifiedWaiters.ticket` against :meth:`~NotifiedWaiters.stamp`): such a
statement committed after the wait began, so its value is at least as new as anything the
waiter could have read; an older statement's value (say, the last run's result of a task id
being run again) is never handed over.
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
        self._tickets = 0

    def wake_all(self) -> None:
        with self._lock:
            keys = list(self._waiting)
        for key in keys:
            self.wake(key)

    def ticket(self) -> int:
        """A new number for a waiter about to register: it takes offers stamped no lower."""
        with self._lock:
            self._tickets += 1
            return self._tickets

    def stamp(self) -> int:
        """The stamp of a statement about to be sent: the latest ticket given out."""
        return self._tickets

    def offer(self, key: str, value: Any, stamp: int) -> None:
        """Wake ``key``'s waiters with ``value``, from a statement stamped ``stamp`` (dropped
        at once when nobody waits)."""
        with self._lock:
            if key not in self._waiting:
                return
            self._offers[key] = (stamp, value)
        self.wake(key)

    def offered(self, key: str, ticket: int) -> Any:
        """The value offered for ``key`` by a statement that began after ``ticket`` was given
        out, else None."""
        found = self._offers.get(key)
        return found[1] if found is not None and found[0] >= ticket else None

    def unregister(self, keys: Iterable[str], future: Any) -> None:
        keys = tuple(keys)
        super().unregister(keys, future)
        if self._offers:
            with self._lock:
                for key in keys:
                    if key not in self._waiting:
                        self._offers.pop(key, None)
