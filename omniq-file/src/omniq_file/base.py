"""What the file storages share: the store, blocking file calls on worker threads, and the
capabilities that hold for the configured filesystem."""

from __future__ import annotations

import asyncio
from typing import Any

from omniq.plugins.specs import BackendContext
from omniq.storage import Capability

from omniq_file.store import FileStore, store_for

__all__ = ["FileStorageMixin"]


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

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)
