"""This process's waiters, woken by the server's notifications (and by this process's own
writes), with a wake-all for when notifications may have been missed (a reconnect)."""

from __future__ import annotations

from omniq.storage.wakeup import Waiters

__all__ = ["NotifiedWaiters"]


class NotifiedWaiters(Waiters[str]):
    """Keys: ``q:<queue>`` (tasks ready), ``r:<task id>`` (a result), ``e`` (events)."""

    def wake_all(self) -> None:
        with self._lock:
            keys = list(self._waiting)
        for key in keys:
            self.wake(key)
