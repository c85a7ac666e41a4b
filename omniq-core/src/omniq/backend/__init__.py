"""Backend objects, and the backend class names of OmniQ's documented API.

``SQLiteBackend``, ``RedisBackend``, ``PostgreSQLBackend`` (also ``PostgresBackend``),
``NATSBackend``, ``FileBackend`` and ``MemoryBackend`` resolve lazily through the plugin system:
each is a :class:`~omniq.backend.base.Backend` subclass bound to one backend name, built like
``load_backend`` (``SQLiteBackend(database_path="omniq.db")``, ``SQLiteBackend({"db_path":
"omniq.db"})``, ``RedisBackend(host="localhost", port=6379, db=0)``). Importing one whose backend
is not installed raises an ``ImportError`` (:class:`~omniq.errors.BackendNotInstalledError`) with
the ``pip install`` line; ``from omniq.backend.sqlite import SQLiteBackend`` works too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from omniq.backend.base import Backend, BaseBackend

__all__ = [
    "CLASS_BACKENDS",
    "Backend",
    "BaseBackend",
    "FileBackend",
    "MemoryBackend",
    "NATSBackend",
    "NamedBackend",
    "PostgreSQLBackend",
    "PostgresBackend",
    "RedisBackend",
    "SQLiteBackend",
    "backend_class",
]

CLASS_BACKENDS: Mapping[str, str] = {
    "MemoryBackend": "memory",
    "SQLiteBackend": "sqlite",
    "FileBackend": "file",
    "RedisBackend": "redis",
    "PostgreSQLBackend": "postgres",
    "PostgresBackend": "postgres",
    "NATSBackend": "nats",
}
"""Documented class name -> the backend it loads."""

_CANONICAL_CLASS: Mapping[str, str] = {"postgres": "PostgreSQLBackend"}


class NamedBackend(Backend):
    """A :class:`Backend` bound to one backend name; constructing it loads that backend."""

    backend_name: ClassVar[str]

    def __init__(self, config: Mapping[str, Any] | None = None, /, **options: Any) -> None:
        from omniq.plugins.manager import resolve_backend

        super().__init__(**resolve_backend(self.backend_name, config, options).backend_arguments())


_classes: dict[str, type[NamedBackend]] = {}


def backend_class(class_name: str) -> type[NamedBackend]:
    """The class for a name in :data:`CLASS_BACKENDS`; raises the plugin system's
    ``ImportError`` if its backend is not installed (or is disabled), without importing it."""
    from omniq.plugins.manager import require_installed

    backend = CLASS_BACKENDS[class_name]
    require_installed(backend)
    canonical = _CANONICAL_CLASS.get(backend, class_name)
    cls = _classes.get(canonical)
    if cls is None:
        cls = type(
            canonical,
            (NamedBackend,),
            {
                "backend_name": backend,
                "__module__": f"{__name__}.{backend}",
                "__qualname__": canonical,
                "__doc__": f"The {backend!r} backend (``load_backend({backend!r}, ...)``).",
            },
        )
        _classes[canonical] = cls
    return cls


def module_getattr(module: str, names: tuple[str, ...]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``names`` with :func:`backend_class`."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return backend_class(name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


if TYPE_CHECKING:
    FileBackend = NamedBackend
    MemoryBackend = NamedBackend
    NATSBackend = NamedBackend
    PostgreSQLBackend = NamedBackend
    PostgresBackend = NamedBackend
    RedisBackend = NamedBackend
    SQLiteBackend = NamedBackend
else:
    __getattr__ = module_getattr(__name__, tuple(CLASS_BACKENDS))
