"""The records a backend plugin yields to register its storages.

A backend registers one spec per role it supports, each from the matching hook in
:mod:`omniq.plugins.hookspecs`. All specs of one backend share its ``name``; the storages that one
:class:`~omniq.backend.Backend` makes share one :class:`BackendContext`, which holds the parsed
options and any resource the roles share (a connection pool, an engine).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, cast

from attrs import define, field, frozen

from omniq.storage import (
    Capability,
    EventStorage,
    ResultStorage,
    Role,
    ScheduleStorage,
    Storage,
    TaskQueueStorage,
)

__all__ = [
    "BackendContext",
    "EventStorageSpec",
    "ResultStorageSpec",
    "ScheduleStorageSpec",
    "StorageSpec",
    "TaskQueueSpec",
]

S = TypeVar("S", bound=Storage)
T = TypeVar("T")


@define
class BackendContext:
    """What a storage factory receives: the backend's name, its options, and shared resources.

    ``options`` is an instance of the spec's ``options`` class (an attrs class), built from what the
    user passed; a URL given to ``load_backend`` arrives as the option ``url``.
    """

    name: str
    options: Any
    _resources: dict[str, tuple[Any, Callable[[Any], Any] | None]] = field(factory=dict)

    def shared(
        self,
        key: str,
        create: Callable[[], T],
        close: Callable[[T], Awaitable[None] | None] | None = None,
    ) -> T:
        """Return the resource stored under ``key``, creating it with ``create`` the first time.

        ``close`` is called (and awaited if it returns an awaitable) when the backend closes,
        after its storages, in reverse order of creation.
        """
        if key not in self._resources:
            self._resources[key] = (create(), cast(Callable[[Any], Any] | None, close))
        return cast(T, self._resources[key][0])

    async def aclose(self) -> None:
        """Close every shared resource, newest first."""
        resources, self._resources = self._resources, {}
        for resource, close in reversed(list(resources.values())):
            if close is not None:
                outcome = close(resource)
                if inspect.isawaitable(outcome):
                    await outcome


@frozen(kw_only=True)
class StorageSpec(Generic[S]):
    """A storage a backend offers for one role."""

    role: ClassVar[Role]

    name: str
    """The backend's name, as users pass it to ``load_backend`` and configuration (``"redis"``)."""
    factory: Callable[[BackendContext], S]
    """Makes the storage; must not do I/O (that happens in ``Storage.connect``)."""
    url_schemes: tuple[str, ...] = ()
    """URL schemes that select this backend, e.g. ``("redis", "rediss", "unix")``."""
    capabilities: frozenset[Capability] = frozenset()
    options: type | None = None
    """An attrs class whose fields are the accepted options (``None``: no options)."""
    option_aliases: Mapping[str, str] = field(factory=dict)
    """Older option names and the field each maps to (``{"db_path": "database_path"}``)."""
    description: str = ""


@frozen(kw_only=True)
class TaskQueueSpec(StorageSpec[TaskQueueStorage]):
    role: ClassVar[Role] = Role.TASK_QUEUE


@frozen(kw_only=True)
class ResultStorageSpec(StorageSpec[ResultStorage]):
    role: ClassVar[Role] = Role.RESULT_STORAGE


@frozen(kw_only=True)
class EventStorageSpec(StorageSpec[EventStorage]):
    role: ClassVar[Role] = Role.EVENT_STORAGE


@frozen(kw_only=True)
class ScheduleStorageSpec(StorageSpec[ScheduleStorage]):
    role: ClassVar[Role] = Role.SCHEDULE_STORAGE


SPEC_TYPES: Mapping[Role, type[StorageSpec[Any]]] = {
    spec.role: spec
    for spec in (TaskQueueSpec, ResultStorageSpec, EventStorageSpec, ScheduleStorageSpec)
}
