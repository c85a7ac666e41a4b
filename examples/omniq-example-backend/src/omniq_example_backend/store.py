"""The store: plain dicts under a lock, in this process, with the kit's five primitives."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Hashable

from omniq.kit import Item, KVStore, Watch
from omniq.storage.wakeup import Waiters


class _Watch(Watch):
    def __init__(self, waiters: Waiters[str], prefix: str) -> None:
        self._waiters, self._prefix = waiters, prefix
        self._future = waiters.register([prefix])  # before the caller reads: no wake is lost

    async def wait(self, timeout: float) -> None:
        await self._waiters.wait(self._future, timeout)

    def close(self) -> None:
        self._waiters.unregister([self._prefix], self._future)


class DictStore(KVStore):
    """Values and versions in a dict; every method holds the lock, so each is one atomic step
    for every thread and task of this process (no ``MULTI_PROCESS``, no ``PERSISTENT``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[bytes, int]] = {}
        self._versions = itertools.count(1)
        self._waiters: Waiters[str] = Waiters()

    def _set(self, key: str, value: bytes | None) -> None:
        if value is None:
            del self._data[key]
        else:
            self._data[key] = (value, next(self._versions))
        self._waiters.wake(key[: key.index("/") + 1])  # watches are made per role prefix
        self._waiters.wake(key)

    async def get(self, key: str) -> Item | None:
        with self._lock:
            found = self._data.get(key)
        return None if found is None else Item(key, *found)

    async def put_if_absent(
        self, key: str, value: bytes, *, expires_at: float | None = None
    ) -> bool:
        with self._lock:
            if key in self._data:
                return False
            self._set(key, value)
            return True

    async def compare_and_set(
        self, key: str, value: bytes, version: Hashable, *, expires_at: float | None = None
    ) -> bool:
        with self._lock:
            if key not in self._data or self._data[key][1] != version:
                return False
            self._set(key, value)
            return True

    async def delete(self, key: str, version: Hashable | None = None) -> bool:
        with self._lock:
            found = self._data.get(key)
            if found is None or version not in (None, found[1]):
                return False
            self._set(key, None)
            return True

    async def scan(self, prefix: str) -> list[Item]:
        with self._lock:
            found = [Item(k, *v) for k, v in self._data.items() if k.startswith(prefix)]
        return sorted(found, key=lambda item: item.key)

    def watch(self, prefix: str) -> Watch:
        return _Watch(self._waiters, prefix)
