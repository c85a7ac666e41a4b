"""The tables, defined with SQLAlchemy Core, and the schema version the backend writes.

One schema may hold all four roles or any of them; each role creates only its tables.
``omniq_schema`` records the version of each role's tables so that a newer OmniQ can upgrade
them in place and an older one refuses a schema it does not understand. The DDL is compiled for
PostgreSQL by SQLAlchemy and run over psycopg (no SQLAlchemy engine at run time).

Times are ``timestamptz``; the queue's claim key ``ready_at`` and every lease are on the
server's clock (``now()``), never the client's.
"""

from __future__ import annotations

import functools

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from omniq_postgres.schema_version import SCHEMA_VERSION

__all__ = ["METADATA", "SCHEMA_VERSION", "TABLES_BY_ROLE", "UPGRADES", "create_statements"]

METADATA = MetaData()
_TS = DateTime(timezone=True)

schema_versions = Table(
    "omniq_schema",
    METADATA,
    Column("role", String, primary_key=True),
    Column("version", Integer, nullable=False),
)

tasks = Table(
    "omniq_tasks",
    METADATA,
    Column("id", String, primary_key=True),
    Column("queue", String, nullable=False),
    Column("state", String, nullable=False),  # pending | active | dead
    Column("priority", Integer, nullable=False),
    Column("eta", _TS, nullable=False),
    Column("ready_at", _TS, nullable=False),  # the claim key: eta, or now() if due at once
    Column("enqueued_at", _TS, nullable=False),
    Column("func", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("serializer", String, nullable=False),
    Column("max_retries", Integer, nullable=False),
    Column("retry_backoff", Float, nullable=False),
    Column("timeout", Float),
    Column("result_ttl", Float),
    Column("headers", Text),  # JSON, NULL when empty
    Column("attempt", Integer, nullable=False, server_default=text("0")),
    Column("deliveries", Integer, nullable=False, server_default=text("0")),
    Column("token", String),
    Column("lease_expires", _TS),
    Column("worker_id", String),
    Column("last_error", Text),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    Column("finished_at", _TS),
)
# Partial indexes: a pending task is in the first only, a claimed one in the second only.
Index(
    "omniq_tasks_ready",
    tasks.c.queue,
    tasks.c.priority.desc(),
    tasks.c.ready_at,
    tasks.c.id,
    postgresql_where=text("state = 'pending'"),
)
Index("omniq_tasks_leased", tasks.c.lease_expires, postgresql_where=text("state = 'active'"))
Index(
    "omniq_tasks_dead", tasks.c.queue, tasks.c.finished_at, postgresql_where=text("state = 'dead'")
)

results = Table(
    "omniq_results",
    METADATA,
    Column("task_id", String, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("expires_at", _TS),
    Column("delivery", Integer, nullable=False, server_default=text("0")),
)
Index("omniq_results_expiry", results.c.expires_at, postgresql_where=text("expires_at IS NOT NULL"))

events = Table(
    "omniq_events",
    METADATA,
    Column("id", String, primary_key=True),
    Column("task_id", String, nullable=False),
    Column("event_type", String, nullable=False),
    Column("queue", String),
    Column("ts", _TS, nullable=False),
    Column("worker_id", String),
    Column("attempt", Integer),
    Column("details", Text),  # JSON, NULL when empty
)
Index("omniq_events_task", events.c.task_id, events.c.ts, events.c.id)
Index("omniq_events_time", events.c.ts, events.c.id)
Index("omniq_events_type", events.c.event_type, events.c.ts)

schedules = Table(
    "omniq_schedules",
    METADATA,
    Column("name", String, primary_key=True),
    Column("next_fire_at", _TS),
    Column("paused", Boolean, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
Index("omniq_schedules_due", schedules.c.next_fire_at, postgresql_where=text("NOT paused"))

schedule_ticks = Table(
    "omniq_schedule_ticks",
    METADATA,
    Column("name", String, nullable=False),
    Column("tick", _TS, nullable=False),
    Column("fired_at", _TS, nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("name", "tick"),
)
"""One row per fired ``(schedule, tick)``: the unique key that makes a tick fire once."""
Index("omniq_schedule_ticks_age", schedule_ticks.c.fired_at)

TABLES_BY_ROLE: dict[str, list[Table]] = {
    "task_queue": [tasks],
    "result_storage": [results],
    "event_storage": [events],
    "schedule_storage": [schedules, schedule_ticks],
}

UPGRADES: dict[int, dict[str, tuple[str, ...]]] = {}
"""Per schema version, per role: the statements that bring tables of the version before to it,
run in the transaction that checks the version."""


@functools.cache
def create_statements(role: str) -> tuple[str, ...]:
    """``CREATE TABLE/INDEX IF NOT EXISTS`` for ``role``'s tables, compiled for PostgreSQL."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    statements: list[str] = []
    for table in TABLES_BY_ROLE[role]:
        statements.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            statements.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)))
    return tuple(statements)


@functools.cache
def create_version_table() -> str:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return str(CreateTable(schema_versions, if_not_exists=True).compile(dialect=dialect))
