"""Every documented way of naming the PostgreSQL backend opens it on a real server:
``PostgreSQLBackend(dsn=...)``, ``PostgresBackend({...})``, ``OmniQConfig(event_storage_type=
"postgresql", postgresql_dsn=...)``, ``StorageBackendConfig(backend_type="postgres", ...)``, YAML
``type: postgres``, ``PostgreSQLResultStorage``/``PostgreSQLEventStorage``, ``postgres://`` and a
unix-socket URL (``?host=/dir``)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import omniq
from omniq import OmniQ
from omniq.backend.base import Backend
from omniq.models.config import OmniQConfig, StorageBackendConfig
from omniq.models.event import EventType
from omniq.models.result import ResultStatus, TaskResult
from omniq_postgres.testing import PASSWORD, USER, PostgresServer


async def _round_trip(backend: Backend) -> None:
    """A result written and read back through ``backend``'s result storage."""
    storage = backend.result_storage()
    await storage.connect()
    try:
        result = TaskResult(task_id=omniq.ids.new_id(), status=ResultStatus.SUCCESS, payload=b"1")
        assert await storage.store(result) is True
        assert await storage.get(result.task_id) == result
    finally:
        await backend.close()


async def test_backend_classes(postgres_server: PostgresServer, schema: str) -> None:
    from omniq.backend import PostgresBackend, PostgreSQLBackend
    from omniq.backend.postgres import PostgreSQLBackend as FromModule

    assert FromModule is PostgreSQLBackend
    await _round_trip(PostgreSQLBackend(dsn=postgres_server.dsn(), schema=schema))
    config = {
        "host": "127.0.0.1",
        "port": postgres_server.port,
        "database": "postgres",
        "username": USER,
        "password": PASSWORD,
        "schema": schema,
    }
    await _round_trip(PostgresBackend(config))


async def test_urls_and_aliases(postgres_server: PostgresServer, schema: str) -> None:
    dsn = postgres_server.dsn()
    await _round_trip(
        omniq.load_backend(dsn.replace("postgresql://", "postgres://"), schema=schema)
    )
    await _round_trip(omniq.load_backend("postgresql", url=dsn, schema=schema))
    await _round_trip(omniq.load_backend(postgres_server.socket_dsn(), schema=schema))
    config = StorageBackendConfig(
        backend_type="postgres",
        url=dsn,
        config={
            "host": "127.0.0.1", "port": postgres_server.port, "database": "postgres",
            "username": USER, "password": PASSWORD, "min_connections": 1, "max_connections": 10,
            "schema": schema,
        },
    )  # fmt: skip
    assert config.backend_type == "postgres"


def _events_land_in_postgres(config: OmniQConfig, server: PostgresServer, database: str) -> None:
    with OmniQ(config, workers=0) as oq:
        task_id = oq.enqueue(print, "hello")
        assert type(oq.stores.events).__module__.startswith("omniq_postgres")
        assert type(oq.stores.task_queue).__module__.startswith("omniq_sqlite")
        oq.get_events(task_id)
    rows = server.execute(
        f"SELECT event_type FROM omniq_events WHERE task_id = '{task_id}'", database
    )
    assert rows == [(EventType.ENQUEUED.value,)]


def test_omniq_config_with_flat_postgresql_keys(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    database = postgres_server.new_database()
    config = OmniQConfig(
        task_queue_type="sqlite",
        sqlite_database_path=str(tmp_path / "q.db"),
        event_storage_type="postgresql",
        postgresql_dsn=postgres_server.dsn(database),
    )
    _events_land_in_postgres(config, postgres_server, database)


def test_yaml_type_postgres(postgres_server: PostgresServer, tmp_path: Path) -> None:
    database = postgres_server.new_database()
    path = tmp_path / "omniq.yaml"
    path.write_text(
        textwrap.dedent(f"""
        task_queue:
          type: sqlite
          database_path: {tmp_path / "q.db"}
        event_storage:
          type: postgres
          dsn: {postgres_server.dsn(database)}
        """)
    )
    _events_land_in_postgres(OmniQConfig.from_yaml(path), postgres_server, database)


async def test_documented_storage_names(postgres_server: PostgresServer, schema: str) -> None:
    from omniq.events import PostgreSQLEventStorage
    from omniq.results import PostgreSQLResultStorage

    results: Any = PostgreSQLResultStorage(dsn=postgres_server.dsn(), schema=schema)
    events: Any = PostgreSQLEventStorage(dsn=postgres_server.dsn(), schema=schema)
    for storage in (results, events):
        await storage.connect()
    try:
        result = TaskResult(task_id=omniq.ids.new_id(), status=ResultStatus.SUCCESS, payload=b"1")
        assert await results.store(result)
        assert await results.get(result.task_id) == result
        assert await events.query(omniq.models.event.EventQuery(task_id=result.task_id)) == []
    finally:
        for storage in (results, events):
            await storage.close()
