"""The Redis backend passes the whole conformance suite against a real redis-server (the
multi-process tests open it from other processes with the same options)."""

from typing import Any

import pytest
from omniq.testing import BackendConformance


class TestRedisConformance(BackendConformance):
    backend_name = "redis"
    event_cap_option = "max_events"

    @pytest.fixture
    def backend_options(self, redis_server: Any, key_prefix: str) -> dict[str, Any]:
        return {"url": redis_server.url, "key_prefix": key_prefix}
