"""The whole-backend conformance class: every role's tests, plus the backend object's own."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from omniq.backend.base import Backend
from omniq.storage import Role
from omniq.testing.cancellation import CancellationConformance
from omniq.testing.completion import FencedCompletionConformance
from omniq.testing.events import EventStorageConformance
from omniq.testing.multiprocess import MultiProcessConformance
from omniq.testing.reruns import RerunConformance
from omniq.testing.results import ResultStorageConformance
from omniq.testing.schedules import ScheduleStorageConformance
from omniq.testing.task_queue import TaskQueueConformance
from omniq.testing.workers import WorkerProcessesConformance

__all__ = ["BackendConformance"]


class BackendConformance(
    TaskQueueConformance,
    ResultStorageConformance,
    EventStorageConformance,
    ScheduleStorageConformance,
    FencedCompletionConformance,
    CancellationConformance,
    RerunConformance,
    MultiProcessConformance,
    WorkerProcessesConformance,
):
    """For a backend that offers all four roles (and so can run an app: the cancellation and
    re-run tests run tasks through one). With ``MULTI_PROCESS``, other processes race this one on
    the storages and real ``omniq worker`` processes share the store (fewer tasks than
    :class:`WorkerProcessesConformance` alone runs)."""

    task_count = 2_000
    sigkill_task_count = 400

    @pytest.mark.asyncio
    async def test_backend_offers_every_role_under_its_name(
        self, backend_factory: Callable[[], Backend]
    ) -> None:
        backend = backend_factory()
        try:
            assert backend.name == self.backend_name
            assert backend.roles == frozenset(Role)
            for role in Role:
                spec = backend.spec(role)
                assert spec.name == self.backend_name
                assert backend.storage(role) is backend.storage(role)
        finally:
            await backend.close()

    @pytest.mark.asyncio
    async def test_backend_close_is_idempotent(
        self, backend_factory: Callable[[], Backend]
    ) -> None:
        backend = backend_factory()
        for role in Role:
            await backend.storage(role).connect()
        await backend.close()
        await backend.close()
