"""The backend kit: implement a handful of atomic primitives on your store, get all four roles.

In the manner of fsspec's ``AbstractFileSystem``: subclass :class:`KVStore` and implement
``get``, ``put_if_absent``, ``compare_and_set`` (by version), ``delete`` and ``scan`` (by prefix);
optionally ``watch`` (change notification: the roles then declare ``PUSH_WAKEUP``), ``apply``
(batched writes) and native expiry (``expires``). :func:`kit_hooks` turns it into a backend
whose task queue (leases, fencing, priorities, ETAs, dead letters, cancellation), result storage
(TTL, delivery compare), event storage and schedule storage (fire-once ticks) pass OmniQ's
conformance suite. See ``docs/plugins/kit.md``.
"""

from omniq.kit.events import KitEventStorage
from omniq.kit.memory import MemoryKV
from omniq.kit.plugin import KitHooks, kit_hooks
from omniq.kit.results import KitResultStorage
from omniq.kit.schedules import KitScheduleStorage
from omniq.kit.store import Item, KVStore, Watch, Write
from omniq.kit.task_queue import KitTaskQueue

__all__ = [
    "Item",
    "KVStore",
    "KitEventStorage",
    "KitHooks",
    "KitResultStorage",
    "KitScheduleStorage",
    "KitTaskQueue",
    "MemoryKV",
    "Watch",
    "Write",
    "kit_hooks",
]
