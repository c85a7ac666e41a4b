"""A second store on the kit: JSON files that several processes share under file locks.

A folder holds one JSON file per role (``task.json``, ``result.json``, ``event.json``,
``schedule.json``: a key's first part names its file). Every write takes an exclusive
``fcntl.flock`` on ``<file>.lock``, reads the file, changes it and replaces it atomically
(temporary file, fsync, ``os.replace``), so each primitive is one atomic step across processes
(``MULTI_PROCESS``) and the data survives a restart or a power cut (``PERSISTENT``). Reads take
no lock: a replaced file is always whole. A watch checks the file's identity every 5 ms, a cheap
change marker that catches other processes' writes (``PUSH_WAKEUP``). Every write rewrites a
whole file: for small queues only.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import os
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from attrs import frozen
from omniq.kit import Item, KVStore, Watch, Write, kit_hooks
from omniq.storage import Capability

Data = dict[str, list[Any]]
"""key -> [value as latin-1 text, version]; ``"#"`` holds the last version given."""


class _FileWatch(Watch):
    def __init__(self, path: Path) -> None:
        self._path, self._seen = path, _identity(path)

    async def wait(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while _identity(self._path) == self._seen and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)  # a stat every 5 ms is the change marker


def _identity(path: Path) -> tuple[int, ...] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)


class JsonFileStore(KVStore):
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PERSISTENT, Capability.MULTI_PROCESS}
    )

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        return f"JSON files in {self.path}"

    def _file(self, key: str) -> Path:
        return self.path / f"{key.partition('/')[0]}.json"

    def _read(self, file: Path) -> Data:
        """A consistent snapshot without the lock: writers replace the file atomically."""
        try:
            data: Data = json.loads(file.read_bytes())
        except FileNotFoundError:
            data = {"#": [0]}
        return data

    @contextmanager
    def _locked(self, file: Path) -> Iterator[Data]:
        """The file's data under its lock; written back if the block changed it."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(f"{file}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read(file)
            before = data["#"][0], len(data)
            yield data
            if (data["#"][0], len(data)) != before:
                temporary = file.with_name(f"{file.name}.{os.getpid()}.tmp")
                with open(temporary, "w") as out:
                    json.dump(data, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, file)

    async def _run(self, key: str, work: Callable[[Data], Any], *, write: bool) -> Any:
        def locked() -> Any:
            if not write:
                return work(self._read(self._file(key)))
            with self._locked(self._file(key)) as data:
                return work(data)

        return await asyncio.to_thread(locked)

    async def get(self, key: str) -> Item | None:
        found = await self._run(key, lambda data: data.get(key), write=False)
        return None if found is None else Item(key, found[0].encode("latin-1"), found[1])

    async def apply(self, writes: Sequence[Write]) -> list[bool]:
        done: dict[int, bool] = {}
        for file in {self._file(w.key) for w in writes}:  # one locked rewrite per file
            mine = [(i, w) for i, w in enumerate(writes) if self._file(w.key) == file]
            apply = functools.partial(self._apply, writes=mine)
            outcomes = await self._run(mine[0][1].key, apply, write=True)
            done.update(zip([i for i, _ in mine], outcomes, strict=True))
        return [done[i] for i in range(len(writes))]

    def _apply(self, data: Data, writes: Sequence[tuple[int, Write]]) -> list[bool]:
        done = []
        for _, w in writes:
            current = data.get(w.key)
            if w.value is None:  # a delete: of any version when none is given
                ok = current is not None and w.version in (None, current[1])
            else:
                ok = current[1] == w.version if current else w.version is None
            if ok and w.value is None:
                del data[w.key]
            elif ok and w.value is not None:
                data["#"][0] += 1
                data[w.key] = [w.value.decode("latin-1"), data["#"][0]]
            done.append(ok)
        return done

    async def put_if_absent(
        self, key: str, value: bytes, *, expires_at: float | None = None
    ) -> bool:
        return (await self.apply([Write(key, value, None)]))[0]

    async def compare_and_set(
        self, key: str, value: bytes, version: Hashable, *, expires_at: float | None = None
    ) -> bool:
        return (await self.apply([Write(key, value, version)]))[0]

    async def delete(self, key: str, version: Hashable | None = None) -> bool:
        return (await self.apply([Write(key, None, version)]))[0]

    async def scan(self, prefix: str) -> list[Item]:
        def work(data: Data) -> list[Item]:
            found = [(k, v) for k, v in data.items() if k.startswith(prefix) and k != "#"]
            return [Item(k, v[0].encode("latin-1"), v[1]) for k, v in sorted(found)]

        items: list[Item] = await self._run(prefix, work, write=False)
        return items

    def watch(self, prefix: str) -> Watch:
        return _FileWatch(self._file(prefix))


@frozen(kw_only=True)
class JsonFileOptions:
    path: str = "omniq-data"
    """The folder of the JSON files (made on first write)."""


hooks = kit_hooks(
    "example-json",
    JsonFileStore,
    lambda options: JsonFileStore(options.path),
    options=JsonFileOptions,
    description="JSON files under file locks, shared by processes (the kit)",
)
omniq_task_queues = hooks.omniq_task_queues
omniq_result_storages = hooks.omniq_result_storages
omniq_event_storages = hooks.omniq_event_storages
omniq_schedule_storages = hooks.omniq_schedule_storages
