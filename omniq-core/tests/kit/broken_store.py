"""A kit backend on one JSON file whose cross-process lock can be switched off (``lock=False``)
while it still declares MULTI_PROCESS: the broken variant the conformance suite must fail.

Not a test module: ``test_suite_fails_a_broken_lock.py`` installs it as ``omniq_broken_kit``
(a module and a ``.dist-info`` with its entry point) in a folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import json
import os
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from attrs import frozen
from omniq.kit import Item, KVStore, Write, kit_hooks
from omniq.storage import Capability


class JsonStore(KVStore):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )

    def __init__(self, path: str, lock: bool) -> None:
        self.path, self.lock = Path(path), lock
        self._names = itertools.count()

    @contextlib.contextmanager
    def _data(self) -> Iterator[dict[str, Any]]:
        with open(f"{self.path}.lock", "a") as lock:
            if self.lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(self.path.read_text()) if self.path.exists() else {"#": 0}
            yield data
            temporary = f"{self.path}.{os.getpid()}.{next(self._names)}"
            Path(temporary).write_text(json.dumps(data))
            os.replace(temporary, self.path)

    def _apply(self, writes: Sequence[Write]) -> list[bool]:
        done = []
        with self._data() as data:
            for w in writes:
                current = data.get(w.key)
                if w.value is None:
                    ok = current is not None and w.version in (None, current[1])
                else:
                    ok = current[1] == w.version if current else w.version is None
                if ok and w.value is None:
                    del data[w.key]
                elif ok and w.value is not None:
                    data["#"] += 1
                    data[w.key] = [w.value.decode("latin-1"), data["#"]]
                done.append(ok)
        return done

    async def apply(self, writes: Sequence[Write]) -> list[bool]:
        return await asyncio.to_thread(self._apply, writes)

    async def scan(self, prefix: str) -> list[Item]:
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        found = sorted((k, v) for k, v in data.items() if k.startswith(prefix) and k != "#")
        return [Item(k, v[0].encode("latin-1"), v[1]) for k, v in found]

    async def get(self, key: str) -> Item | None:
        found = [item for item in await self.scan(key) if item.key == key]
        return found[0] if found else None

    async def put_if_absent(self, key: str, value: bytes, *, expires_at: Any = None) -> bool:
        return (await self.apply([Write(key, value, None)]))[0]

    async def compare_and_set(
        self, key: str, value: bytes, version: Hashable, *, expires_at: Any = None
    ) -> bool:
        return (await self.apply([Write(key, value, version)]))[0]

    async def delete(self, key: str, version: Hashable | None = None) -> bool:
        return (await self.apply([Write(key, None, version)]))[0]


@frozen(kw_only=True)
class Options:
    path: str
    lock: bool = True


hooks = kit_hooks("brokenjson", JsonStore, lambda o: JsonStore(o.path, o.lock), options=Options)
omniq_task_queues = hooks.omniq_task_queues
omniq_result_storages = hooks.omniq_result_storages
omniq_event_storages = hooks.omniq_event_storages
omniq_schedule_storages = hooks.omniq_schedule_storages
