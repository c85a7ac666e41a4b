"""OmniQ's conformance suite: the tests every storage backend must pass.

A backend author subclasses the class for each role their backend offers (or
:class:`BackendConformance` for all four), names the backend, and, if ``load_backend(name)`` is
not how to open it, overrides the ``backend_factory`` fixture::

    import omniq
    import pytest
    from omniq.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        backend_name = "mine"

        @pytest.fixture
        def backend_factory(self, tmp_path):
            return lambda: omniq.load_backend("mine", base_dir=str(tmp_path))

Tests of a capability the backend does not declare are skipped with a reason naming it; known
failures are listed in ``known_failures`` and reported as strict xfails. The suite needs pytest
and pytest-asyncio (``pip install omniq-core[testing]``); its tests carry their own asyncio
markers, so no pytest configuration is required.
"""

from omniq.testing._base import ConformanceBase, StorageOpener, server_unavailable
from omniq.testing.backend import BackendConformance
from omniq.testing.completion import FencedCompletionConformance
from omniq.testing.events import EventStorageConformance
from omniq.testing.reruns import RerunConformance
from omniq.testing.results import ResultStorageConformance
from omniq.testing.schedules import ScheduleStorageConformance
from omniq.testing.task_queue import TaskQueueConformance

__all__ = [
    "BackendConformance",
    "ConformanceBase",
    "EventStorageConformance",
    "FencedCompletionConformance",
    "RerunConformance",
    "ResultStorageConformance",
    "ScheduleStorageConformance",
    "StorageOpener",
    "TaskQueueConformance",
    "server_unavailable",
]
