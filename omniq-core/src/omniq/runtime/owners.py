"""Which backend made a loose storage (``MemoryResultStorage()`` and friends), so the app that
uses the storage can close the backend's shared resources with it."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omniq.backend.base import Backend
    from omniq.storage import Storage

__all__ = ["owner_of", "set_owner"]

_OWNERS: weakref.WeakKeyDictionary[Storage, Backend] = weakref.WeakKeyDictionary()


def set_owner(storage: Storage, backend: Backend) -> None:
    _OWNERS[storage] = backend


def owner_of(storage: Storage) -> Backend | None:
    return _OWNERS.get(storage)
