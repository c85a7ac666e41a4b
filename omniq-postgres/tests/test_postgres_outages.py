"""Dropped connections and server restarts mid-run, with worker processes and OmniQ's default
settings (see :func:`omniq.testing.workers.assert_outage_loses_nothing`): ``pg_ctl restart -m
fast`` and ``pg_terminate_backend`` of every OmniQ connection lose no acknowledged task, leave
none stuck, and the workers carry on without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from omniq.testing.workers import assert_outage_loses_nothing
from omniq_postgres.testing import PostgresServer, find_binaries

pytestmark = pytest.mark.slow

TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE application_name = 'omniq' AND pid <> pg_backend_pid()"
)


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A cluster of these tests alone (one is restarted); each test has a schema of its own."""
    if find_binaries() is None:
        from omniq.testing import server_unavailable

        server_unavailable("PostgreSQL is not installed (Debian package postgresql)")
    server = PostgresServer()
    server.start()
    yield server
    server.destroy()


def _terminate(server: PostgresServer) -> None:
    for _ in range(3):  # again, as the pools reconnect
        server.execute(TERMINATE)
        time.sleep(0.3)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("outage", ["restart", "terminate"])
def test_an_outage_mid_run_loses_no_acknowledged_task(
    outage: str, own_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outages: dict[str, Callable[[], None]] = {
        "restart": own_server.restart,
        "terminate": lambda: _terminate(own_server),
    }
    store = {
        "OMNIQ_TASK_QUEUE_TYPE": "postgres",
        "OMNIQ_TASK_QUEUE_URL": own_server.dsn(),
        "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"schema": "outage_{outage}"}}',
    }
    assert_outage_loses_nothing(store, outages[outage], tmp_path, monkeypatch)
