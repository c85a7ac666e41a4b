"""The kit on its reference in-process store passes the whole conformance suite."""

from collections.abc import Callable

import pytest
from omniq.backend.base import Backend
from omniq.kit import MemoryKV, kit_hooks
from omniq.testing import BackendConformance

HOOKS = kit_hooks("kitmem", MemoryKV, lambda _: MemoryKV())


class TestKitOnMemory(BackendConformance):
    backend_name = "kitmem"

    @pytest.fixture
    def backend_factory(self) -> Callable[[], Backend]:
        store = MemoryKV()
        hooks = kit_hooks("kitmem", MemoryKV, lambda _: store)
        return hooks.backend
