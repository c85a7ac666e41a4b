"""The backend object: a factory for the storages of each role one backend supports."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self, cast

from omniq.plugins.specs import BackendContext, StorageSpec
from omniq.storage import (
    Capability,
    EventStorage,
    ResultStorage,
    Role,
    ScheduleStorage,
    Storage,
    TaskQueueStorage,
)

__all__ = ["Backend", "BaseBackend"]


class Backend:
    """One configured backend (``load_backend("redis", host=...)``).

    It makes one storage per role it supports, on first request, all sharing one
    :class:`~omniq.plugins.specs.BackendContext` (and so one connection pool). Close it with
    ``await backend.close()`` or ``async with``; that closes the storages it made.
    """

    def __init__(
        self,
        *,
        name: str,
        specs: Mapping[Role, StorageSpec[Any]],
        context: BackendContext,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        self.name = name
        self.distribution = distribution
        self.version = version
        self._specs = dict(specs)
        self._context = context
        self._storages: dict[Role, Storage] = {}

    @property
    def options(self) -> Any:
        """The parsed options (an instance of the backend's options class)."""
        return self._context.options

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(self._specs)

    def supports(self, role: Role | str) -> bool:
        return Role(role) in self._specs

    def spec(self, role: Role | str) -> StorageSpec[Any]:
        """The spec record registered for ``role``; raises ``MissingRoleError`` if there is none."""
        role = Role(role)
        try:
            return self._specs[role]
        except KeyError:
            from omniq.plugins.manager import missing_role_error

            raise missing_role_error(self.name, role, self.roles) from None

    def capabilities(self, role: Role | str) -> frozenset[Capability]:
        """What the storage for ``role`` can do: its spec's capabilities, narrowed by those of
        the storage itself (which may know from its options that one does not hold, as a file
        queue on an object store, where renames are not atomic, is not ``MULTI_PROCESS``)."""
        return self.spec(role).capabilities & self.storage(role).capabilities

    def storage(self, role: Role | str) -> Storage:
        """The storage for ``role`` (made on first call, then reused)."""
        role = Role(role)
        storage = self._storages.get(role)
        if storage is None:
            storage = self.spec(role).factory(self._context)
            self._storages[role] = storage
        return storage

    def task_queue(self) -> TaskQueueStorage:
        return cast(TaskQueueStorage, self.storage(Role.TASK_QUEUE))

    def result_storage(self) -> ResultStorage:
        return cast(ResultStorage, self.storage(Role.RESULT_STORAGE))

    def event_storage(self) -> EventStorage:
        return cast(EventStorage, self.storage(Role.EVENT_STORAGE))

    def schedule_storage(self) -> ScheduleStorage:
        return cast(ScheduleStorage, self.storage(Role.SCHEDULE_STORAGE))

    async def close(self) -> None:
        """Close every storage this backend made, then the resources they shared."""
        storages, self._storages = self._storages, {}
        for storage in storages.values():
            await storage.close()
        await self._context.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        roles = ", ".join(sorted(self.roles))
        return f"<{type(self).__name__} {self.name!r} roles=[{roles}]>"


BaseBackend = Backend
