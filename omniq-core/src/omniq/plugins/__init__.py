"""OmniQ's plugin system: backends are distributions registering an ``omniq.backends`` entry point.

- :mod:`~omniq.plugins.hookspecs`: the four hooks a backend implements, and ``hookimpl``;
- :mod:`~omniq.plugins.specs`: the spec records those hooks yield, and ``BackendContext``;
- :mod:`~omniq.plugins.discovery`: installed backends from metadata, without importing them;
- :mod:`~omniq.plugins.loader`: importing one plugin inside a guard;
- :mod:`~omniq.plugins.manager`: ``load_backend`` and ``list_backends``;
- :mod:`~omniq.plugins.known`: the first-party backends and their distributions.

Names are imported lazily so that ``import omniq.plugins`` imports no plugin machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omniq.plugins.hookspecs import hookimpl
    from omniq.plugins.manager import BackendInfo, clear_cache, list_backends, load_backend
    from omniq.plugins.specs import (
        BackendContext,
        EventStorageSpec,
        ResultStorageSpec,
        ScheduleStorageSpec,
        TaskQueueSpec,
    )

_LAZY: dict[str, str] = {
    "hookimpl": "omniq.plugins.hookspecs",
    "BackendInfo": "omniq.plugins.manager",
    "clear_cache": "omniq.plugins.manager",
    "list_backends": "omniq.plugins.manager",
    "load_backend": "omniq.plugins.manager",
    "BackendContext": "omniq.plugins.specs",
    "EventStorageSpec": "omniq.plugins.specs",
    "ResultStorageSpec": "omniq.plugins.specs",
    "ScheduleStorageSpec": "omniq.plugins.specs",
    "TaskQueueSpec": "omniq.plugins.specs",
}

__all__ = [
    "BackendContext",
    "BackendInfo",
    "EventStorageSpec",
    "ResultStorageSpec",
    "ScheduleStorageSpec",
    "TaskQueueSpec",
    "clear_cache",
    "hookimpl",
    "list_backends",
    "load_backend",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'omniq.plugins' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
