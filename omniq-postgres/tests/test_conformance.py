"""The PostgreSQL backend passes the whole conformance suite against a real server."""

from collections.abc import Callable
from typing import Any

import omniq
import pytest
from omniq.backend.base import Backend
from omniq.testing import BackendConformance


class TestPostgresConformance(BackendConformance):
    backend_name = "postgres"

    @pytest.fixture
    def backend_factory(self, postgres_server: Any, schema: str) -> Callable[[], Backend]:
        return lambda: omniq.load_backend(postgres_server.dsn(), schema=schema)
