"""Task results: the records and the documented result storage names.

``MemoryResultStorage()``, ``FileResultStorage(base_dir=...)``,
``SQLiteResultStorage(database_path=...)``, ``PostgreSQLResultStorage(dsn=...)``,
``RedisResultStorage(host=..., port=...)`` and ``NATSResultStorage(servers=[...])`` each load their
backend through the plugin system and return its result storage; pass it to an app as
``OmniQ(result_storage=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omniq.models.result import ResultStatus, TaskError, TaskResult
from omniq.storage.results import ResultStorage

if TYPE_CHECKING:
    from collections.abc import Callable

    from omniq.storage import Storage

__all__ = [
    "FileResultStorage",
    "MemoryResultStorage",
    "NATSResultStorage",
    "PostgreSQLResultStorage",
    "RedisResultStorage",
    "ResultStatus",
    "ResultStorage",
    "SQLiteResultStorage",
    "TaskError",
    "TaskResult",
]

_BACKENDS = {
    "MemoryResultStorage": "memory",
    "FileResultStorage": "file",
    "SQLiteResultStorage": "sqlite",
    "PostgreSQLResultStorage": "postgres",
    "RedisResultStorage": "redis",
    "NATSResultStorage": "nats",
}

if TYPE_CHECKING:
    MemoryResultStorage: Callable[..., Storage]
    FileResultStorage: Callable[..., Storage]
    SQLiteResultStorage: Callable[..., Storage]
    PostgreSQLResultStorage: Callable[..., Storage]
    RedisResultStorage: Callable[..., Storage]
    NATSResultStorage: Callable[..., Storage]


def __getattr__(name: str) -> Any:
    backend = _BACKENDS.get(name)
    if backend is None:
        raise AttributeError(f"module 'omniq.results' has no attribute {name!r}")
    from omniq.runtime.legacy_storages import storage_factory
    from omniq.storage import Role

    factory = storage_factory(name, backend, Role.RESULT_STORAGE)
    globals()[name] = factory
    return factory


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_BACKENDS))
