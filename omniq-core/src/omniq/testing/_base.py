"""What every conformance class shares: the backend under test, storages, capability skips."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar, NoReturn, cast

import pytest
import pytest_asyncio

from omniq.backend.base import Backend
from omniq.storage import (
    Capability,
    EventStorage,
    ResultStorage,
    Role,
    ScheduleStorage,
    Storage,
    TaskQueueStorage,
)

__all__ = ["ConformanceBase", "StorageOpener", "server_unavailable"]


def server_unavailable(reason: str) -> NoReturn:
    """Skip the calling test because a server it needs is missing, unless ``CI`` or
    ``OMNIQ_REQUIRE_SERVERS`` is set: then a backend that was not proven against its real server
    fails the run instead (``scripts/test.sh`` sets the latter, since it installs the servers)."""
    if any(
        os.environ.get(flag, "").strip().lower() not in ("", "0", "false", "no")
        for flag in ("CI", "OMNIQ_REQUIRE_SERVERS")
    ):
        pytest.fail(f"server unavailable in CI, so this backend is not proven: {reason}")
    pytest.skip(f"server unavailable: {reason}")


_CONTRACTS: dict[Role, type[Storage]] = {
    Role.TASK_QUEUE: TaskQueueStorage,
    Role.RESULT_STORAGE: ResultStorage,
    Role.EVENT_STORAGE: EventStorage,
    Role.SCHEDULE_STORAGE: ScheduleStorage,
}


class StorageOpener:
    """Opens storages of the backend under test, each on a new backend object (``open``) or on
    the first one (``storage``); closes them all at the end of the test."""

    def __init__(self, backend_name: str, factory: Callable[[], Backend]) -> None:
        self.backend_name = backend_name
        self._factory = factory
        self._backends: list[Backend] = []
        self._owners: dict[int, Backend] = {}

    async def new_backend(self) -> Backend:
        backend = self._factory()
        self._backends.append(backend)
        return backend

    async def open(self, role: Role, *, fresh: bool = False) -> Storage:
        """A connected storage for ``role``: on a new backend when ``fresh``, else the first."""
        backend = await self.new_backend() if fresh or not self._backends else self._backends[0]
        if not backend.supports(role):
            pytest.skip(f"backend {self.backend_name!r} has no {role.value} role")
        storage = backend.storage(role)
        expected = _CONTRACTS[role]
        assert isinstance(storage, expected), (
            f"the {role.value} of {self.backend_name!r} is a {type(storage).__name__}, "
            f"not a {expected.__name__}"
        )
        await storage.connect()
        self._owners[id(storage)] = backend
        return storage

    async def task_queue(self, *, fresh: bool = False) -> TaskQueueStorage:
        return cast(TaskQueueStorage, await self.open(Role.TASK_QUEUE, fresh=fresh))

    async def result_storage(self, *, fresh: bool = False) -> ResultStorage:
        return cast(ResultStorage, await self.open(Role.RESULT_STORAGE, fresh=fresh))

    async def event_storage(self, *, fresh: bool = False) -> EventStorage:
        return cast(EventStorage, await self.open(Role.EVENT_STORAGE, fresh=fresh))

    async def schedule_storage(self, *, fresh: bool = False) -> ScheduleStorage:
        return cast(ScheduleStorage, await self.open(Role.SCHEDULE_STORAGE, fresh=fresh))

    def capabilities(self, role: Role) -> frozenset[Capability]:
        """What the backend under test declares for ``role``."""
        backend = self._backends[0] if self._backends else self._factory()
        if not self._backends:
            self._backends.append(backend)
        return backend.capabilities(role) if backend.supports(role) else frozenset()

    async def close_backend(self, storage: Storage) -> None:
        """Close the backend that made ``storage`` (to prove what survives a reopen)."""
        backend = self._owners.pop(id(storage))
        await backend.close()
        self._backends.remove(backend)

    async def aclose(self) -> None:
        backends, self._backends = self._backends, []
        for backend in reversed(backends):
            await backend.close()


class ConformanceBase:
    """Subclass one of the conformance classes, set :attr:`backend_name`, and override the
    ``backend_factory`` fixture if ``load_backend(backend_name)`` is not how to open your backend.
    """

    backend_name: ClassVar[str] = ""
    """The backend under test, as users name it in ``load_backend``."""
    volume: ClassVar[float] = 1.0
    """Scales the task counts of the volume tests (2,500 tasks in one batch, 300 claimed
    concurrently); a store where every file is a network request may lower it (never to 0)."""
    known_failures: ClassVar[Mapping[str, str]] = {}
    """``{"test_name": "why"}``: tests expected to fail, reported as xfail (strict: a known failure
    that starts passing fails the run, so the list stays true)."""

    @pytest.fixture
    def backend_options(self) -> Mapping[str, Any] | None:
        """The options (JSON values) that open the store under test: ``load_backend(backend_name,
        backend_options)``, an empty store for each test (a temp dir, a unique key prefix).

        Override this rather than ``backend_factory``: the multi-process tests open the store
        from other processes with it (a backend that declares ``MULTI_PROCESS`` must)."""
        return None

    @pytest.fixture
    def backend_factory(self, backend_options: Mapping[str, Any] | None) -> Callable[[], Backend]:
        """A zero-argument callable opening a **new** backend object on the **same** store each
        time it is called, and an empty store for each test (a temp dir, a unique key prefix).
        The default loads :attr:`backend_name` with ``backend_options``."""
        from omniq.plugins.manager import load_backend

        if not self.backend_name:
            pytest.fail(f"{type(self).__name__} must set backend_name")
        options = dict(backend_options or {})
        return lambda: load_backend(self.backend_name, options)

    @pytest.fixture
    def worker_env(self, backend_options: Mapping[str, Any] | None) -> dict[str, str]:
        """``OMNIQ_*`` variables pointing every role at the store under test, for ``omniq
        worker`` processes; derived from ``backend_options`` (override it for anything else)."""
        if backend_options is None or not self.backend_name:
            pytest.fail(
                f"{type(self).__name__}: set backend_name and override the backend_options "
                "fixture (or worker_env), so that worker processes can open the store under test"
            )
        options = dict(backend_options)
        url = options.pop("url", None)
        env: dict[str, str] = {}
        for role in Role:
            stem = f"OMNIQ_{role.value.upper()}"
            env[f"{stem}_TYPE"] = self.backend_name
            env[f"{stem}_OPTIONS"] = json.dumps(options)
            if url is not None:
                env[f"{stem}_URL"] = str(url)
        return env

    @pytest.fixture(autouse=True)
    def _known_failure(self, request: pytest.FixtureRequest) -> None:
        tests = {name for name in dir(type(self)) if name.startswith("test_")}
        unknown = sorted(set(self.known_failures) - tests)
        if unknown:
            pytest.fail(f"known_failures of {type(self).__name__} names no test: {unknown}")
        reason = self.known_failures.get(cast(Any, request.node).originalname)
        if reason is not None:
            request.applymarker(
                pytest.mark.xfail(
                    reason=f"known failure of {self.backend_name!r}: {reason}", strict=True
                )
            )

    @pytest_asyncio.fixture
    async def opener(self, backend_factory: Callable[[], Backend]) -> AsyncIterator[StorageOpener]:
        opener = StorageOpener(self.backend_name, backend_factory)
        try:
            yield opener
        finally:
            await opener.aclose()

    def scaled(self, count: int) -> int:
        """``count`` scaled by :attr:`volume`, at least 10."""
        return max(int(count * self.volume), 10)

    @pytest.fixture
    def queue_name(self) -> str:
        """A queue name no other test uses, so a shared server's leftovers cannot interfere."""
        return f"q-{uuid.uuid4().hex[:12]}"

    def require(self, opener: StorageOpener, role: Role, capability: Capability) -> None:
        """Skip, naming the capability, unless the backend declares it for ``role``."""
        if capability not in opener.capabilities(role):
            pytest.skip(
                f"backend {self.backend_name!r} does not declare {capability.value!r} "
                f"for {role.value}"
            )
