"""Where the memory backend keeps its data: one store per backend, or one per namespace."""

from __future__ import annotations

import threading
from typing import Any

from attrs import define, field

from omniq.memory.options import MemoryOptions
from omniq.plugins.specs import BackendContext

__all__ = ["MemoryStore", "drop_namespace", "store_for"]

_namespaces: dict[str, MemoryStore] = {}
_namespaces_lock = threading.Lock()


@define
class MemoryStore:
    """The data of the four roles; each role's storage creates and keeps its own part."""

    _parts: dict[str, Any] = field(factory=dict)
    _lock: threading.Lock = field(factory=threading.Lock)

    def part(self, role: str, create: type[Any]) -> Any:
        """The data of ``role``, made with ``create()`` the first time it is asked for."""
        with self._lock:
            if role not in self._parts:
                self._parts[role] = create()
            return self._parts[role]


def store_for(ctx: BackendContext) -> MemoryStore:
    """The store a storage of this backend works on: the namespace's, or the backend's own."""
    options = ctx.options if isinstance(ctx.options, MemoryOptions) else MemoryOptions()
    name = options.store_name
    if name is None:
        return ctx.shared("memory-store", MemoryStore)
    with _namespaces_lock:
        return _namespaces.setdefault(name, MemoryStore())


def drop_namespace(name: str) -> bool:
    """Forget the store of namespace ``name`` (its data goes); ``True`` if there was one."""
    with _namespaces_lock:
        return _namespaces.pop(name, None) is not None
