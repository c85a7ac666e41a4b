"""The tables, defined with SQLAlchemy Core, and the schema version the backend writes.

One database file may hold all four roles or any of them; each role creates only its tables.
``omniq_schema`` records the version of each role's tables so that a newer OmniQ can upgrade
them in place and an older one refuses a database it does not understand.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["METADATA", "SCHEMA_VERSION", "TABLES_BY_ROLE"]

SCHEMA_VERSION = 1
"""Bump when a table changes, and add the upgrade step to :mod:`omniq_sqlite.database`."""

METADATA = MetaData()

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
    Column("eta", BigInteger, nullable=False),  # microseconds since the epoch
    Column("enqueued_at", BigInteger, nullable=False),
    Column("func", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("serializer", String, nullable=False),
    Column("max_retries", Integer, nullable=False),
    Column("retry_backoff", Float, nullable=False),
    Column("timeout", Float),
    Column("result_ttl", Float),
    Column("headers", Text),  # JSON, NULL when empty
    Column("attempt", Integer, nullable=False, default=0),
    Column("token", String),
    Column("lease_expires", BigInteger),
    Column("worker_id", String),
    Column("last_error", Text),
    Column("cancel_requested", Integer, nullable=False, default=0),
    Column("finished_at", BigInteger),
)
Index(
    "omniq_tasks_claim",
    tasks.c.queue,
    tasks.c.state,
    tasks.c.priority.desc(),
    tasks.c.eta,
    tasks.c.id,
)
Index("omniq_tasks_lease", tasks.c.state, tasks.c.lease_expires)

results = Table(
    "omniq_results",
    METADATA,
    Column("task_id", String, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("expires_at", BigInteger),
)
Index("omniq_results_expiry", results.c.expires_at)

events = Table(
    "omniq_events",
    METADATA,
    Column("id", String, primary_key=True),
    Column("task_id", String, nullable=False),
    Column("event_type", String, nullable=False),
    Column("queue", String),
    Column("ts", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
Index("omniq_events_task", events.c.task_id, events.c.ts, events.c.id)
Index("omniq_events_time", events.c.ts, events.c.id)
Index("omniq_events_type", events.c.event_type, events.c.ts)

schedules = Table(
    "omniq_schedules",
    METADATA,
    Column("name", String, primary_key=True),
    Column("next_fire_at", BigInteger),
    Column("paused", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
Index("omniq_schedules_due", schedules.c.paused, schedules.c.next_fire_at)

TABLES_BY_ROLE: dict[str, list[Table]] = {
    "task_queue": [tasks],
    "result_storage": [results],
    "event_storage": [events],
    "schedule_storage": [schedules],
}
