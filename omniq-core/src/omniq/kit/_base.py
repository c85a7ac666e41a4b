"""What the kit's four storages share: their store, its lifecycle and use-after-close."""

from __future__ import annotations

from typing import Any

import orjson

from omniq.errors import StorageClosedError
from omniq.kit.store import KVStore
from omniq.storage import Capability

__all__ = ["KitStorage", "dumps", "kit_capabilities", "loads"]


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(value: bytes) -> Any:
    return orjson.loads(value)


class KitStorage:
    """A role on a :class:`KVStore` (shared by the roles of one backend object)."""

    def __init__(self, store: KVStore) -> None:
        self.kv = store
        self._closed = False

    async def connect(self) -> None:
        self._closed = False
        await self.kv.connect()

    async def close(self) -> None:
        self._closed = True

    def describe(self) -> str:
        return f"kit on {self.kv.describe()}"

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError(
                f"{type(self).__name__} was used after close(): open the backend again"
            )


def kit_capabilities(store: type[KVStore]) -> frozenset[Capability]:
    """What a role on a ``store`` class declares: the store's ``PERSISTENT`` and
    ``MULTI_PROCESS``, and ``PUSH_WAKEUP`` when the store can watch for changes."""
    declared = store.capabilities & {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    return declared | ({Capability.PUSH_WAKEUP} if store.watch is not KVStore.watch else set())
