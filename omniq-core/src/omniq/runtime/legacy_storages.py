"""The storage class names of OmniQ's documented API (``MemoryResultStorage()``,
``SQLiteEventStorage(database_path=...)``, ...), resolved through the plugin system.

Each name is a factory: calling it loads the backend (``omniq.load_backend``) and returns that
backend's storage for the role; the app that uses the storage also closes the backend. Naming a
backend that is not installed raises ``ImportError`` with the ``pip install`` line that fixes it,
already at ``from omniq.results import RedisResultStorage``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from omniq.plugins.known import install_command
from omniq.runtime.owners import set_owner
from omniq.storage import Role, Storage

__all__ = ["DISTRIBUTIONS", "storage_factory"]

DISTRIBUTIONS: Mapping[str, str] = {
    "memory": "omniq-core",
    "file": "omniq-file",
    "sqlite": "omniq-sqlite",
    "postgres": "omniq-postgres",
    "redis": "omniq-redis",
    "nats": "omniq-nats",
}


def _installed(backend: str) -> bool:
    return any(ep.name == backend for ep in entry_points(group="omniq.backends"))


def storage_factory(name: str, backend: str, role: Role) -> Callable[..., Storage]:
    """A factory named ``name`` making ``backend``'s storage for ``role``; ``ImportError`` now if
    the backend is not installed."""
    if not _installed(backend):
        raise ImportError(
            f"OmniQ backend {backend!r} is not installed, so {name} is not available. "
            f"Install it with: {install_command(DISTRIBUTIONS.get(backend, 'omniq-' + backend))}",
            name=name,
        )

    def factory(*config: Mapping[str, Any], **options: Any) -> Storage:
        from omniq.plugins.manager import load_backend

        loaded = load_backend(backend, *config, **options)
        storage: Storage = loaded.storage(role)
        set_owner(storage, loaded)
        return storage

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (
        f"The {backend} backend's {role.replace('_', ' ')} (``load_backend({backend!r}, ...)``)."
    )
    return factory
