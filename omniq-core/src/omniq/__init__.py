"""OmniQ: a Python task queue whose queue, results, events and schedules each use the backend
you choose.

Top-level names are imported lazily so that ``import omniq`` stays cheap and imports no backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from omniq import _provenance

__version__ = "0.1.0"
__omniq_core__ = True
"""Marks this package as omniq-core's: PyPI's ``omniq`` is an unrelated project."""

# name -> module that defines it
_LAZY: dict[str, str] = {
    # plugin system
    "hookimpl": "omniq.plugins.hookspecs",
    "load_backend": "omniq.plugins.manager",
    "list_backends": "omniq.plugins.manager",
    "Backend": "omniq.backend.base",
    # configuration
    "OmniQConfig": "omniq.models.config",
    "StorageBackendConfig": "omniq.models.config",
    # runtime
    "OmniQ": "omniq.runtime.sync_app",
    "AsyncOmniQ": "omniq.runtime.async_app",
    "TaskFailedError": "omniq.errors",
    "TaskQueue": "omniq.runtime.components",
    "ResultStore": "omniq.runtime.components",
    "EventStore": "omniq.runtime.components",
    "ScheduleStore": "omniq.runtime.components",
    # inside a running task
    "cancellation_requested": "omniq.runtime.cancellation",
    "wait_for_cancellation": "omniq.runtime.cancellation",
}

if TYPE_CHECKING:
    from omniq.backend.base import Backend
    from omniq.errors import TaskFailedError
    from omniq.models.config import OmniQConfig, StorageBackendConfig
    from omniq.plugins.hookspecs import hookimpl
    from omniq.plugins.manager import list_backends, load_backend
    from omniq.runtime.async_app import AsyncOmniQ
    from omniq.runtime.cancellation import cancellation_requested, wait_for_cancellation
    from omniq.runtime.components import EventStore, ResultStore, ScheduleStore, TaskQueue
    from omniq.runtime.sync_app import OmniQ

__all__ = [
    "AsyncOmniQ",
    "Backend",
    "EventStore",
    "OmniQ",
    "OmniQConfig",
    "ResultStore",
    "ScheduleStore",
    "StorageBackendConfig",
    "TaskFailedError",
    "TaskQueue",
    "cancellation_requested",
    "hookimpl",
    "list_backends",
    "load_backend",
    "wait_for_cancellation",
]


_provenance.check_folder(__file__)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'omniq' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
