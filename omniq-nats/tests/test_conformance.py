"""The NATS backend passes the whole conformance suite against a real nats-server -js."""

from collections.abc import Callable
from typing import Any

import omniq
import pytest
from omniq.backend.base import Backend
from omniq.testing import BackendConformance


class TestNATSConformance(BackendConformance):
    backend_name = "nats"

    @pytest.fixture
    def backend_factory(self, nats_server: Any, nats_prefix: str) -> Callable[[], Backend]:
        return lambda: omniq.load_backend(nats_server.url, prefix=nats_prefix)
