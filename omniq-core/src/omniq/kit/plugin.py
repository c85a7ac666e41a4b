"""The hooks of a backend built on the kit: four spec records from one store factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs

from omniq import hookimpl
from omniq.backend.base import Backend
from omniq.kit._base import KitStorage, kit_capabilities
from omniq.kit.events import KitEventStorage
from omniq.kit.results import KitResultStorage
from omniq.kit.schedules import KitScheduleStorage
from omniq.kit.store import KVStore
from omniq.kit.task_queue import KitTaskQueue
from omniq.plugins.specs import (
    BackendContext,
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    StorageSpec,
    TaskQueueSpec,
)
from omniq.storage import Role

__all__ = ["KitHooks", "kit_hooks"]

_ROLES: tuple[tuple[type[KitStorage], type[Any]], ...] = (
    (KitTaskQueue, TaskQueueSpec),
    (KitResultStorage, ResultStorageSpec),
    (KitEventStorage, EventStorageSpec),
    (KitScheduleStorage, ScheduleStorageSpec),
)


@attrs.frozen
class KitHooks:
    """The four hook implementations; assign them in your plugin module (see :func:`kit_hooks`)."""

    name: str
    omniq_task_queues: Callable[[], Iterator[TaskQueueSpec]]
    omniq_result_storages: Callable[[], Iterator[ResultStorageSpec]]
    omniq_event_storages: Callable[[], Iterator[EventStorageSpec]]
    omniq_schedule_storages: Callable[[], Iterator[ScheduleStorageSpec]]

    def backend(self, options: Any = None) -> Backend:
        """A backend object straight from these hooks, without an entry point (for tests and
        for apps that build their backend in code)."""
        hooks: tuple[Callable[[], Iterator[StorageSpec[Any]]], ...] = (
            self.omniq_task_queues, self.omniq_result_storages, self.omniq_event_storages,
            self.omniq_schedule_storages,
        )  # fmt: skip
        specs = {role: next(hook()) for role, hook in zip(Role, hooks, strict=True)}
        context = BackendContext(name=self.name, options=options)
        return Backend(name=self.name, specs=specs, context=context)


def kit_hooks(
    name: str,
    store: type[KVStore],
    make_store: Callable[[Any], KVStore],
    *,
    options: type[Any] | None = None,
    url_schemes: tuple[str, ...] = (),
    description: str = "",
) -> KitHooks:
    """Hooks that give backend ``name`` all four roles on one store per backend object::

        hooks = kit_hooks("mine", MyStore, lambda options: MyStore(options.path), options=MyOptions)
        omniq_task_queues = hooks.omniq_task_queues  # ... and the other three

    ``make_store(options)`` runs once per backend object (``load_backend`` call), on first use;
    the backend's ``close`` closes the store. ``store`` is the class it returns: its
    ``capabilities`` (and whether it overrides ``watch``) decide what the roles declare.
    """
    capabilities = kit_capabilities(store)

    def shared(ctx: BackendContext) -> KVStore:
        return ctx.shared("kit-store", lambda: make_store(ctx.options), close=_close)

    def hook(role: type[KitStorage], spec: type[Any]) -> Callable[[], Iterator[Any]]:
        cls = type(role.__name__, (role,), {"capabilities": capabilities})

        def factory(ctx: BackendContext) -> KitStorage:
            return cls(shared(ctx))  # type: ignore[no-any-return]

        @hookimpl
        def specs() -> Iterator[Any]:
            yield spec(
                name=name, factory=factory, url_schemes=url_schemes, capabilities=capabilities,
                options=options, description=description or f"{role.__name__} on {store.__name__}",
            )  # fmt: skip

        return specs

    return KitHooks(name, *(hook(role, spec) for role, spec in _ROLES))


async def _close(store: KVStore) -> None:
    await store.close()
