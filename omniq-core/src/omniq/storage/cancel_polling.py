"""Optional: a task queue that can say, without writing, which running tasks were asked to stop.

A worker looks for cancel requests of the tasks it runs every ``cancel_poll_interval`` (default
0.5 s), far more often than it extends their leases (every ``lease_seconds / 3``). A queue that
implements :class:`CancelPolling` answers with a read (SQLite: one ``SELECT``, no write lock;
Redis: one pipelined round trip of ``HMGET``); for a queue that does not, the worker calls
``extend`` on the running tasks' leases at that interval instead, which reports the same flag
but writes every lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from omniq.models.task import Lease

__all__ = ["CancelPolling"]


@runtime_checkable
class CancelPolling(Protocol):
    async def cancel_requests(self, leases: Sequence[Lease]) -> list[bool]:
        """For each lease in order: whether a cancel was requested for its task while the
        lease is current (``True`` only if the lease's token is still the task's). A lost lease
        reads ``False``: ``extend`` reports it. Must change nothing and be cheap: it is called
        every ``cancel_poll_interval`` while tasks run."""
        ...
