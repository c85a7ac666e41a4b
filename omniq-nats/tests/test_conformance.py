"""The NATS backend passes the whole conformance suite against a real nats-server -js (the
multi-process tests open it from other processes with the same options)."""

from typing import Any

import pytest
from omniq.testing import BackendConformance


class TestNATSConformance(BackendConformance):
    backend_name = "nats"
    event_cap_option = "event_max_count"

    task_count = 20_000  # the 4 worker processes through 20,000 tasks, each once
    sigkill_task_count = 1_000

    @pytest.fixture
    def backend_options(self, nats_server: Any, nats_prefix: str) -> dict[str, Any]:
        return {"url": nats_server.url, "prefix": nats_prefix}
