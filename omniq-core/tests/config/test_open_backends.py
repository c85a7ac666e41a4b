"""open_backends / open_role_backends / backends_for_roles: one backend per distinct configuration,
pre-built backends passed through, inherited roles the backend lacks fall back to SQLite.

A small loader builds real ``Backend`` objects (with storages never made) so that these tests do
not depend on which backends are installed; ``test_with_load_backend`` uses ``omniq.load_backend``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from omniq.backend.base import Backend
from omniq.configuration import (
    DEFAULT_STORAGE,
    backends_for_roles,
    open_backends,
    open_role_backends,
)
from omniq.models.config import OmniQConfig, StorageBackendConfig
from omniq.plugins.specs import (
    BackendContext,
    EventStorageSpec,
    ResultStorageSpec,
    ScheduleStorageSpec,
    StorageSpec,
    TaskQueueSpec,
)
from omniq.storage import Role

SPEC_TYPES: dict[Role, type[StorageSpec[Any]]] = {
    Role.TASK_QUEUE: TaskQueueSpec,
    Role.RESULT_STORAGE: ResultStorageSpec,
    Role.EVENT_STORAGE: EventStorageSpec,
    Role.SCHEDULE_STORAGE: ScheduleStorageSpec,
}


def _never(context: BackendContext) -> Any:
    raise AssertionError("no storage is made in these tests")


def make_backend(
    name: str, roles: frozenset[Role] = frozenset(Role), options: Any = None
) -> Backend:
    specs = {role: SPEC_TYPES[role](name=name, factory=_never) for role in roles}
    return Backend(name=name, specs=specs, context=BackendContext(name, options))


class RecordingLoader:
    """Loads a Backend per call and remembers the calls; ``nats`` lacks schedules."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name_or_url: str, options: Mapping[str, Any]) -> Backend:
        self.calls.append((name_or_url, dict(options)))
        name = name_or_url.split(":", 1)[0]
        roles = frozenset(Role) - {Role.SCHEDULE_STORAGE} if name == "nats" else frozenset(Role)
        return make_backend(name, roles, dict(options))


def test_equal_configurations_share_one_backend() -> None:
    same = StorageBackendConfig(backend_type="sqlite", url="sqlite:///omniq.db")
    loader = RecordingLoader()
    backends = open_backends(
        {role: StorageBackendConfig("sqlite", "sqlite:///omniq.db") for role in Role},
        loader=loader,
    )
    assert len({id(b) for b in backends.values()}) == 1
    assert loader.calls == [("sqlite", {"url": same.url})]


def test_distinct_configurations_get_their_own_backend() -> None:
    loader = RecordingLoader()
    backends = open_backends(
        {
            Role.TASK_QUEUE: StorageBackendConfig(url="redis://cache:6379/0"),
            Role.RESULT_STORAGE: StorageBackendConfig("file", config={"base_dir": "/r"}),
            Role.EVENT_STORAGE: StorageBackendConfig(url="redis://cache:6379/0"),
            Role.SCHEDULE_STORAGE: StorageBackendConfig(url="mongodb://db/x"),
        },
        loader=loader,
    )
    assert backends[Role.TASK_QUEUE] is backends[Role.EVENT_STORAGE]
    assert backends[Role.RESULT_STORAGE] is not backends[Role.TASK_QUEUE]
    assert loader.calls == [
        ("redis", {"url": "redis://cache:6379/0"}),
        ("file", {"base_dir": "/r"}),
        ("mongodb://db/x", {}),  # no known name: the URL selects the backend
    ]


def test_prebuilt_backends_pass_through() -> None:
    mine = make_backend("memory")
    loader = RecordingLoader()
    backends = open_backends(
        {Role.TASK_QUEUE: mine, Role.RESULT_STORAGE: StorageBackendConfig("memory")},
        loader=loader,
    )
    assert backends[Role.TASK_QUEUE] is mine
    assert backends[Role.RESULT_STORAGE] is not mine
    assert len(loader.calls) == 1


def test_inherited_role_the_backend_lacks_falls_back_to_sqlite() -> None:
    loader = RecordingLoader()
    config = OmniQConfig(task_queue_backend=StorageBackendConfig(url="nats://localhost:4222"))
    backends = open_role_backends(config, environ={}, loader=loader)
    assert backends[Role.RESULT_STORAGE] is backends[Role.TASK_QUEUE]
    assert backends[Role.TASK_QUEUE].name == "nats"
    assert backends[Role.SCHEDULE_STORAGE].name == "sqlite"
    assert loader.calls[-1] == (DEFAULT_STORAGE.backend_type, {"url": DEFAULT_STORAGE.url})


def test_open_role_backends_opens_only_the_roles_asked_for() -> None:
    loader = RecordingLoader()
    config = OmniQConfig(
        task_queue_backend=StorageBackendConfig("memory"),
        event_storage_backend=StorageBackendConfig("file", config={"base_dir": "/e"}),
    )
    backends = open_role_backends(config, [Role.RESULT_STORAGE], environ={}, loader=loader)
    assert set(backends) == {Role.RESULT_STORAGE}
    assert loader.calls == [("memory", {})]


def test_backends_for_roles_falls_back_to_the_main_backend() -> None:
    main = make_backend("file")
    results = make_backend("sqlite")
    chosen = backends_for_roles(main, result_storage=results)
    assert chosen[Role.TASK_QUEUE] is main
    assert chosen[Role.RESULT_STORAGE] is results
    assert chosen[Role.EVENT_STORAGE] is main
    assert chosen[Role.SCHEDULE_STORAGE] is main


def test_backends_for_roles_leaves_out_roles_nobody_has() -> None:
    main = make_backend("nats", frozenset(Role) - {Role.SCHEDULE_STORAGE})
    assert set(backends_for_roles(main)) == set(Role) - {Role.SCHEDULE_STORAGE}


def test_with_load_backend() -> None:
    pytest.importorskip("omniq.plugins.manager", reason="the plugin manager is not there yet")
    backends = open_role_backends(
        OmniQConfig(task_queue_backend=StorageBackendConfig("memory")), environ={}
    )
    assert len({id(b) for b in backends.values()}) == 1
    assert backends[Role.TASK_QUEUE].name == "memory"
    assert all(backends[Role.TASK_QUEUE].supports(role) for role in Role)


def test_explicit_role_the_backend_lacks_is_an_error() -> None:
    pytest.importorskip("omniq.plugins.manager", reason="the plugin manager is not there yet")
    loader = RecordingLoader()
    with pytest.raises((LookupError, ValueError), match="schedule"):
        open_backends(
            {Role.SCHEDULE_STORAGE: StorageBackendConfig(url="nats://localhost:4222")},
            loader=loader,
        )
