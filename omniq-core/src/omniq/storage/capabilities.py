"""What a storage can do beyond the contract's core.

Capabilities are declared on a backend's spec records (and on the storage class), so the runtime
can pick the fast path and the conformance suite can skip, naming the capability, what a backend
does not claim.
"""

from __future__ import annotations

import enum

__all__ = ["Capability", "Role"]


class Role(enum.StrEnum):
    """The four storage roles; each may use a different backend."""

    TASK_QUEUE = "task_queue"
    RESULT_STORAGE = "result_storage"
    EVENT_STORAGE = "event_storage"
    SCHEDULE_STORAGE = "schedule_storage"


class Capability(enum.StrEnum):
    PERSISTENT = "persistent"
    """Data survives closing the storage and opening a new one on the same location."""
    MULTI_PROCESS = "multi_process"
    """Several processes may share one store and still get disjoint claims / single tick firings."""
    PUSH_WAKEUP = "push_wakeup"
    """``wait_for_work`` / result ``wait`` are woken by the storage itself when work or a result
    arrives (from any process sharing the store, with ``MULTI_PROCESS``) and return at once when
    it is already there; a server push or the storage's own cheap check of a change marker
    every few ms both count. The runtime then skips its claim polling."""
    EVENT_SUBSCRIBE = "event_subscribe"
    """``subscribe`` is pushed by the store rather than emulated by polling ``query``."""
    SYNC_PRODUCER = "sync_producer"
    """The storage offers synchronous ``enqueue_sync``/``enqueue_many_sync``/``get_sync`` calls."""
