"""A real PostgreSQL server for the tests: one cluster per session, shared with the chaos
suite's (initdb into a temp directory, 127.0.0.1 on a free port, fsync on), a fresh schema per
test. Missing PostgreSQL skips locally and fails under CI (``OMNIQ_REQUIRE_SERVERS``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from omniq.testing import server_unavailable
from omniq_postgres.testing import PostgresServer, find_binaries, shared_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if find_binaries() is None:
        server_unavailable("PostgreSQL is not installed (Debian package postgresql)")
    with shared_server() as server:
        yield server


@pytest.fixture
def schema() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
