"""The Redis backend passes the whole conformance suite against a real redis-server."""

from collections.abc import Callable
from typing import Any

import omniq
import pytest
from omniq.backend.base import Backend
from omniq.testing import BackendConformance


class TestRedisConformance(BackendConformance):
    backend_name = "redis"

    @pytest.fixture
    def backend_factory(self, redis_server: Any, key_prefix: str) -> Callable[[], Backend]:
        return lambda: omniq.load_backend(redis_server.url, key_prefix=key_prefix)
