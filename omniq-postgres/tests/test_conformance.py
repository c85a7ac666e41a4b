"""The PostgreSQL backend passes the whole conformance suite against a real server (the
multi-process tests open it from other processes with the same options)."""

from typing import Any

import pytest
from omniq.testing import BackendConformance


class TestPostgresConformance(BackendConformance):
    backend_name = "postgres"
    event_cap_option = "max_events"

    task_count = 20_000  # the 4 worker processes through 20,000 tasks, each once
    sigkill_task_count = 1_000

    @pytest.fixture
    def backend_options(self, postgres_server: Any, schema: str) -> dict[str, Any]:
        return {"url": postgres_server.dsn(), "schema": schema}
