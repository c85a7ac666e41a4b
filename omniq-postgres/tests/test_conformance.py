"""The PostgreSQL backend passes the whole conformance suite against a real server (the
multi-process tests open it from other processes with the same options)."""

from typing import Any

import pytest
from omniq.testing import BackendConformance


class TestPostgresConformance(BackendConformance):
    backend_name = "postgres"
    event_cap_option = "max_events"

    @pytest.fixture
    def backend_options(self, postgres_server: Any, schema: str) -> dict[str, Any]:
        return {"url": postgres_server.dsn(), "schema": schema}
