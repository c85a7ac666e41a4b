"""A :class:`~omniq.kit.KVStore` in this process's memory: the kit's reference store (and a
model of what a store implements)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Hashable

from omniq.kit.store import Item, KVStore, Watch
from omniq.storage.wakeup import Waiters

__all__ = ["MemoryKV"]

_versions = itertools.count(1)


class _WaitersWatch(Watch):
    def __init__(self, waiters: Waiters[str], prefix: str) -> None:
        self._waiters, self._prefix = waiters, prefix
        self._future = waiters.register([prefix])

    async def wait(self, timeout: float) -> None:
        await self._waiters.wait(self._future, timeout)

    def close(self) -> None:
        self._waiters.unregister([self._prefix], self._future)


class MemoryKV(KVStore):
    """Dicts under a lock; watches woken in this process (so it declares ``PUSH_WAKEUP`` through
    the kit, and neither ``PERSISTENT`` nor ``MULTI_PROCESS``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[bytes, int]] = {}
        self._waiters: Waiters[str] = Waiters()

    def _changed(self, key: str) -> None:
        for cut in {key[: i + 1] for i, ch in enumerate(key) if ch == "/"} | {key}:
            self._waiters.wake(cut)

    async def get(self, key: str) -> Item | None:
        found = self._data.get(key)
        return None if found is None else Item(key, *found)

    async def put_if_absent(
        self, key: str, value: bytes, *, expires_at: float | None = None
    ) -> bool:
        with self._lock:
            if key in self._data:
                return False
            self._data[key] = (value, next(_versions))
        self._changed(key)
        return True

    async def compare_and_set(
        self, key: str, value: bytes, version: Hashable, *, expires_at: float | None = None
    ) -> bool:
        with self._lock:
            found = self._data.get(key)
            if found is None or found[1] != version:
                return False
            self._data[key] = (value, next(_versions))
        self._changed(key)
        return True

    async def delete(self, key: str, version: Hashable | None = None) -> bool:
        with self._lock:
            found = self._data.get(key)
            if found is None or (version is not None and found[1] != version):
                return False
            del self._data[key]
        self._changed(key)
        return True

    async def scan(self, prefix: str) -> list[Item]:
        with self._lock:
            found = [Item(k, *v) for k, v in self._data.items() if k.startswith(prefix)]
        return sorted(found, key=lambda item: item.key)

    def watch(self, prefix: str) -> Watch:
        return _WaitersWatch(self._waiters, prefix)
