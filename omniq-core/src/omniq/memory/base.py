"""What the memory backend's four storages share: their store and an open/closed flag."""

from __future__ import annotations

from typing import Any, TypeVar

from omniq.errors import StorageClosedError
from omniq.memory.store import store_for
from omniq.plugins.specs import BackendContext

__all__ = ["MemoryStorageMixin"]

D = TypeVar("D")


class MemoryStorageMixin:
    """Open on construction (there is nothing to connect to); refuses use after ``close``."""

    _closed: bool = False

    def _data(self, ctx: BackendContext, role: str, create: type[D]) -> D:
        data: Any = store_for(ctx).part(role, create)
        return data  # type: ignore[no-any-return]

    async def connect(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True

    def describe(self) -> str:
        return "memory (this process only)"

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError(
                f"{type(self).__name__} was used after close(): open the backend again"
            )
