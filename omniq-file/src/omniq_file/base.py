"""What the file storages share: the store, blocking file calls on worker threads, and the
capabilities that hold for the configured filesystem."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from omniq.plugins.specs import BackendContext
from omniq.storage import Capability

from omniq_file.store import FileStore, store_for

__all__ = ["PARALLEL_CALLS", "FileStorageMixin"]

T = TypeVar("T")
R = TypeVar("R")

PARALLEL_CALLS = 4
"""Threads a large batch of independent file changes is spread over on a local disk. Much of
an unlink or a write is spent waiting on the filesystem's journal, which threads overlap:
unlinking files already on disk took 72 µs each in one thread and 41 µs in four (measured)."""

_MIN_CHUNK = 16


class FileStorageMixin:
    def __init__(self, ctx: BackendContext) -> None:
        self.files: FileStore = store_for(ctx)
        protocol, _ = self.files.options.location()
        if protocol not in ("file", "local"):
            # Object stores: a rename is a copy and a delete, so one process may consume.
            # The narrowing is per instance (Backend.capabilities reads the storage's own).
            declared: frozenset[Capability] = type(self).capabilities  # type: ignore[attr-defined]
            vars(self)["capabilities"] = declared - {Capability.MULTI_PROCESS}

    async def connect(self) -> None:
        await asyncio.to_thread(lambda: self.files.blobs)

    async def exists(self) -> bool:
        protocol, root = self.files.options.location()
        return protocol not in ("file", "local") or await asyncio.to_thread(os.path.isdir, root)

    def describe(self) -> str:
        """The folder (``file /abs/dir``) or object store location (``s3 bucket/prefix``)."""
        from omniq._redact import mask_secrets

        protocol, root = self.files.options.location()
        if protocol in ("file", "local"):
            return f"file {os.path.abspath(root)}"
        return mask_secrets(f"{protocol}://{root}")

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def _run_spread(self, fn: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
        """``fn(items)``, with a large batch on a local disk split over :data:`PARALLEL_CALLS`
        threads (``fn`` must handle each item on its own); results keep the items' order."""
        items = list(items)
        parts = min(PARALLEL_CALLS, len(items) // _MIN_CHUNK)
        if parts <= 1 or not self.files.blobs.atomic_rename:
            result: list[R] = await self._run(fn, items)
            return result
        size = -(-len(items) // parts)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        done = await asyncio.gather(*(self._run(fn, chunk) for chunk in chunks))
        return [r for chunk_result in done for r in chunk_result]
