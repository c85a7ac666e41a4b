"""Bad input gets a clear OmniQ error within a bounded time, naming the fix, the password
masked: wrong password, a role that does not exist, nothing listening, a host that accepts and
never answers, a port that is not PostgreSQL, a missing database, a role without CREATE rights,
a schema of a newer OmniQ, bad options."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import omniq
import pytest
from omniq.errors import ConfigurationError, StorageError, StorageUnavailableError
from omniq_postgres.errors import SchemaVersionError
from omniq_postgres.testing import PASSWORD, PostgresServer, free_port

SECRET = "hunter2-not-shown"


async def _connect_error(dsn: str, **options: Any) -> StorageError:
    backend = omniq.load_backend(dsn, connect_timeout=3, **options)
    queue = backend.storage(omniq.storage.Role.TASK_QUEUE)
    started = time.monotonic()
    try:
        with pytest.raises(StorageError) as raised:
            await queue.connect()
    finally:
        await backend.close()
    assert time.monotonic() - started < 15
    assert SECRET not in str(raised.value)
    assert PASSWORD not in str(raised.value)
    return raised.value


async def test_a_wrong_password_names_the_credentials(postgres_server: PostgresServer) -> None:
    error = await _connect_error(postgres_server.dsn(password=SECRET))
    assert "credentials" in str(error) and "***" in str(error)
    assert not isinstance(error, StorageUnavailableError)


async def test_nothing_listening_is_unavailable() -> None:
    error = await _connect_error(f"postgresql://omniq:{SECRET}@127.0.0.1:{free_port()}/x")
    assert isinstance(error, StorageUnavailableError)
    assert "Is the server running" in str(error)


@pytest.fixture
def not_postgres() -> Iterator[int]:
    """A TCP port whose server answers like a web server and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    listener.close()


async def test_a_port_that_is_not_postgres_is_refused_in_bounded_time(not_postgres: int) -> None:
    error = await _connect_error(f"postgresql://omniq:{SECRET}@127.0.0.1:{not_postgres}/x")
    assert isinstance(error, StorageUnavailableError)
    assert "PostgreSQL port" in str(error)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port whose server accepts connections and never says a word (a hung host, a
    firewall that swallows packets after the handshake)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)  # kept open, never answered

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


async def test_a_host_that_never_answers_is_unavailable_in_bounded_time(
    silent_server: int,
) -> None:
    error = await _connect_error(f"postgresql://omniq:{SECRET}@127.0.0.1:{silent_server}/x")
    assert isinstance(error, StorageUnavailableError)
    assert "Is the server running" in str(error)


async def test_a_wrong_role_name_names_the_credentials(postgres_server: PostgresServer) -> None:
    dsn = f"postgresql://no_such_role:{SECRET}@127.0.0.1:{postgres_server.port}/postgres"
    error = await _connect_error(dsn)
    assert "no_such_role" in str(error)
    assert "credentials" in str(error) or "CREATE ROLE" in str(error), error


async def test_a_missing_database_says_how_to_create_it(postgres_server: PostgresServer) -> None:
    error = await _connect_error(postgres_server.dsn("no_such_db"))
    assert "no_such_db" in str(error) and "CREATE DATABASE" in str(error)


async def test_a_role_without_create_rights_names_the_grant(
    postgres_server: PostgresServer,
) -> None:
    role = f"r{uuid.uuid4().hex[:8]}"
    postgres_server.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'")
    dsn = f"postgresql://{role}:{SECRET}@127.0.0.1:{postgres_server.port}/postgres"
    for schema in ("public", f"s{uuid.uuid4().hex[:8]}"):
        error = await _connect_error(dsn, schema=schema)
        assert "GRANT CREATE" in str(error), error


async def test_a_newer_schema_is_refused(postgres_server: PostgresServer, schema: str) -> None:
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    queue = backend.storage(omniq.storage.Role.TASK_QUEUE)
    await queue.connect()
    await backend.close()
    postgres_server.execute(f"UPDATE {schema}.omniq_schema SET version = 99")
    backend = omniq.load_backend(postgres_server.dsn(), schema=schema)
    try:
        with pytest.raises(SchemaVersionError, match="upgrade omniq-postgres"):
            await backend.storage(omniq.storage.Role.TASK_QUEUE).connect()
    finally:
        await backend.close()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"dsn": "mysql://u:pw@h/db"}, "scheme 'mysql'"),
        ({"schema": "Bad-Name"}, "Invalid PostgreSQL schema"),
        ({"sslmode": "sometimes"}, "Invalid sslmode"),
        ({"min_connections": 5, "max_connections": 2}, "min_connections"),
        ({"port": 70_000}, "port"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        omniq.load_backend("postgres", **options)


def test_the_password_is_masked_in_the_description() -> None:
    backend = omniq.load_backend(f"postgresql://u:{SECRET}@db.example/app?sslmode=require")
    assert SECRET not in repr(backend)
    from omniq_postgres.options import PostgresOptions

    described = PostgresOptions(dsn=f"postgres://u:{SECRET}@h/d").describe()
    assert SECRET not in described and "***" in described
    assert SECRET not in repr(PostgresOptions(password=SECRET))
