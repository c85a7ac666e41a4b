"""Finding the four storages of an app from what the user gave.

Per role, the first of these wins: a storage, component or backend given for that role; the
backend given for the task queue (``OmniQ(backend=...)``, ``OmniQ.from_backend(backend)``) if it
has the role; a URL given for the role; the configuration (code, environment, YAML), whose
resolver opens one backend per distinct role configuration and falls back to SQLite in the
working directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from attrs import define, field

from omniq.logging import get_logger
from omniq.runtime.components import EventStore, ResultStore, ScheduleStore, TaskQueue
from omniq.storage import (
    Capability,
    EventStorage,
    ResultStorage,
    Role,
    ScheduleStorage,
    Storage,
    TaskQueueStorage,
)

if TYPE_CHECKING:
    from omniq.backend.base import Backend

__all__ = ["RoleSource", "Stores", "open_stores"]

log = get_logger(__name__)

RoleSource = Any
"""A storage, a component (``TaskQueue``, ``ResultStore``, ...), a ``Backend`` or a URL string."""

_STORAGE_TYPES: Mapping[Role, type[Storage]] = {
    Role.TASK_QUEUE: TaskQueueStorage,
    Role.RESULT_STORAGE: ResultStorage,
    Role.EVENT_STORAGE: EventStorage,
    Role.SCHEDULE_STORAGE: ScheduleStorage,
}
_COMPONENT_TYPES = (TaskQueue, ResultStore, EventStore, ScheduleStore)


@define
class Stores:
    """The storages an app uses, what they can do, and the backends the app must close."""

    task_queue: TaskQueueStorage
    results: ResultStorage
    events: EventStorage
    schedules: ScheduleStorage
    capabilities: dict[Role, frozenset[Capability]]
    queues: tuple[str, ...] | None = None
    """Queues named by a ``TaskQueue`` component, if one was given."""
    owned: list[Any] = field(factory=list)
    """Backends (and loose storages) closed with the app."""
    _connected: list[Storage] = field(factory=list)

    def storage(self, role: Role) -> Storage:
        storages: dict[Role, Storage] = {
            Role.TASK_QUEUE: self.task_queue,
            Role.RESULT_STORAGE: self.results,
            Role.EVENT_STORAGE: self.events,
            Role.SCHEDULE_STORAGE: self.schedules,
        }
        return storages[role]

    async def connect(self) -> None:
        seen: set[int] = set()
        for role in Role:
            storage = self.storage(role)
            if id(storage) in seen:
                continue
            seen.add(id(storage))
            await storage.connect()
            self._connected.append(storage)

    async def close(self) -> None:
        """Close the storages, then the backends the app owns; reports the first error."""
        first: BaseException | None = None
        for storage in reversed(self._connected):
            try:
                await storage.close()
            except Exception as exc:
                log.warning(
                    "closing a storage failed", storage=type(storage).__name__, error=repr(exc)
                )
                first = first or exc
        self._connected.clear()
        owned, self.owned = self.owned, []
        for thing in reversed(owned):
            try:
                await thing.close()
            except Exception as exc:
                log.warning("closing a backend failed", backend=repr(thing), error=repr(exc))
                first = first or exc
        if first is not None:
            raise first


def _backend_class() -> type[Backend]:
    from omniq.backend.base import Backend

    return Backend


def _from_source(
    role: Role, source: RoleSource, owned: list[Any], own_given: bool
) -> tuple[Storage, frozenset[Capability], Backend | None]:
    """The storage for ``role`` from what was given, its capabilities and its backend."""
    expected = _STORAGE_TYPES[role]
    if isinstance(source, _COMPONENT_TYPES):
        if not isinstance(source.storage, expected):
            raise TypeError(f"{type(source).__name__} given for the {role} role")
        backend = source.backend
        if backend is not None and own_given and backend not in owned:
            owned.append(backend)
        caps = (
            backend.capabilities(role) if backend is not None else type(source.storage).capabilities
        )
        return source.storage, caps, backend
    if isinstance(source, expected):
        from omniq.runtime.owners import owner_of

        backend = owner_of(source)
        if backend is not None and own_given and backend not in owned:
            owned.append(backend)
        caps = backend.capabilities(role) if backend is not None else type(source).capabilities
        return source, caps, backend
    if isinstance(source, _backend_class()):
        if own_given and source not in owned:
            owned.append(source)
        return source.storage(role), source.capabilities(role), source
    if isinstance(source, str):
        from omniq.plugins.manager import load_backend

        backend = load_backend(source)
        owned.append(backend)
        return backend.storage(role), backend.capabilities(role), backend
    raise TypeError(
        f"Cannot use {source!r} for the {role} role: pass a storage, a component, a Backend "
        "or a URL"
    )


def _inherit_task_queue_backend(
    config: Any,
    task_backend: Backend,
    missing: list[Role],
    chosen: dict[Role, tuple[Storage, frozenset[Capability]]],
) -> list[Role]:
    """Give roles that nothing configures the task queue's backend (the documented fallback:
    configuration, environment, the task queue's backend, SQLite); returns the roles left."""
    from omniq.configuration.resolve import Source, explain_storage_configs

    explained = explain_storage_configs(config)
    left: list[Role] = []
    for role in missing:
        if explained[role].source is Source.DEFAULT and task_backend.supports(role):
            chosen[role] = (task_backend.storage(role), task_backend.capabilities(role))
        else:
            left.append(role)
    return left


def open_stores(
    *,
    config: Any,
    backend: Backend | None,
    sources: Mapping[Role, RoleSource],
    own_given: bool = True,
) -> Stores:
    """Make (without connecting) the storages of every role."""
    owned: list[Any] = []
    chosen: dict[Role, tuple[Storage, frozenset[Capability]]] = {}
    task_backend: Backend | None = None
    for role, source in sources.items():
        if source is not None:
            storage, caps, made_by = _from_source(role, source, owned, own_given)
            chosen[role] = (storage, caps)
            if role is Role.TASK_QUEUE:
                task_backend = made_by
    if backend is not None:
        for role in Role:
            if role not in chosen and backend.supports(role):
                storage, caps, _ = _from_source(role, backend, owned, own_given)
                chosen[role] = (storage, caps)
    missing = [role for role in Role if role not in chosen]
    if missing and task_backend is not None:
        missing = _inherit_task_queue_backend(config, task_backend, missing, chosen)
    if missing:
        from omniq.configuration import open_role_backends

        backends = open_role_backends(config, missing)
        for role in missing:
            role_backend = backends[role]
            if role_backend not in owned:
                owned.append(role_backend)
            chosen[role] = (role_backend.storage(role), role_backend.capabilities(role))
    queues = None
    task_source = sources.get(Role.TASK_QUEUE)
    if isinstance(task_source, TaskQueue):
        queues = task_source.queues
    return Stores(
        task_queue=cast(TaskQueueStorage, chosen[Role.TASK_QUEUE][0]),
        results=cast(ResultStorage, chosen[Role.RESULT_STORAGE][0]),
        events=cast(EventStorage, chosen[Role.EVENT_STORAGE][0]),
        schedules=cast(ScheduleStorage, chosen[Role.SCHEDULE_STORAGE][0]),
        capabilities={role: caps for role, (_, caps) in chosen.items()},
        queues=queues,
        owned=owned,
    )
