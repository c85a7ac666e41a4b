"""Task events: the records and the documented event storage names.

``from omniq.events import TaskEvent`` gives the event record (``event_type``, ``task_id``,
``timestamp``, ``queue``, ``worker_id``, ``attempt``, ``details``). ``MemoryEventStorage()``,
``FileEventStorage(base_dir=...)``, ``SQLiteEventStorage(database_path=...)``,
``PostgreSQLEventStorage(dsn=...)``, ``RedisEventStorage(host=..., port=...)`` and
``NATSEventStorage(servers=[...])`` load their backend through the plugin system and return its
event storage; pass it to an app as ``OmniQ(event_storage=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.storage.events import EventStorage

if TYPE_CHECKING:
    from collections.abc import Callable

    from omniq.storage import Storage

__all__ = [
    "EventQuery",
    "EventStorage",
    "EventType",
    "FileEventStorage",
    "MemoryEventStorage",
    "NATSEventStorage",
    "PostgreSQLEventStorage",
    "RedisEventStorage",
    "SQLiteEventStorage",
    "TaskEvent",
]

_BACKENDS = {
    "MemoryEventStorage": "memory",
    "FileEventStorage": "file",
    "SQLiteEventStorage": "sqlite",
    "PostgreSQLEventStorage": "postgres",
    "RedisEventStorage": "redis",
    "NATSEventStorage": "nats",
}

if TYPE_CHECKING:
    MemoryEventStorage: Callable[..., Storage]
    FileEventStorage: Callable[..., Storage]
    SQLiteEventStorage: Callable[..., Storage]
    PostgreSQLEventStorage: Callable[..., Storage]
    RedisEventStorage: Callable[..., Storage]
    NATSEventStorage: Callable[..., Storage]


def __getattr__(name: str) -> Any:
    backend = _BACKENDS.get(name)
    if backend is None:
        raise AttributeError(f"module 'omniq.events' has no attribute {name!r}")
    from omniq.runtime.legacy_storages import storage_factory
    from omniq.storage import Role

    factory = storage_factory(name, backend, Role.EVENT_STORAGE)
    globals()[name] = factory
    return factory


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_BACKENDS))
