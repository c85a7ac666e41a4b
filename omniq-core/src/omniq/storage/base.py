"""What every storage shares: lifecycle and declared capabilities."""

from __future__ import annotations

from abc import ABC
from types import TracebackType
from typing import ClassVar, Self

from omniq.storage.capabilities import Capability

__all__ = ["Storage"]


class Storage(ABC):  # noqa: B024 (abstract in role; connect/close are optional no-ops)
    """Base of the four storage contracts.

    A storage is cheap to construct and does no I/O until :meth:`connect`, which opens
    connections and creates or checks its schema; it must be idempotent. :meth:`close` releases
    what ``connect`` opened; shared resources (a connection pool used by several roles) belong to
    the :class:`~omniq.plugins.specs.BackendContext` and are closed by the backend.
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    async def connect(self) -> None:  # noqa: B027
        """Open connections and prepare the schema. Safe to call more than once."""

    async def close(self) -> None:  # noqa: B027
        """Release what :meth:`connect` opened. Safe to call more than once."""

    async def exists(self) -> bool:
        """Whether this store was ever created, found out without creating it (``omniq status``
        reads nothing where nothing is): file-based stores look for their file or folder;
        server-based ones say ``True``."""
        return True

    def describe(self) -> str:
        """Where this storage keeps its data, for people, with any secret masked (shown by
        ``omniq worker``'s banner and ``omniq status``); does no I/O. Default: ``""``
        (unknown: the banner shows the backend and its configured URL instead)."""
        return ""

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
