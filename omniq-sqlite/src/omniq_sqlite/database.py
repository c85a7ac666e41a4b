"""One SQLite database file: its checks, engine, schema, transactions and change watching.

SQLAlchemy Core makes the engine (one pooled connection per thread, pragmas set on connect) and
the schema. Statements run on the pooled DB-API connection with plain SQL text: it is the hot
path, and SQLAlchemy's per-statement layer cost more than SQLite itself (about 85 µs against
30 µs per enqueue, measured). Writes run in ``BEGIN IMMEDIATE`` transactions, retried with a
bounded backoff when another process holds the lock, so "database is locked" is not surfaced
under normal load. Async callers run statements on one thread per database, so the event loop
never blocks on disk.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from omniq.errors import ConfigurationError, StorageError
from omniq.logging import get_logger
from omniq.storage.wakeup import Waiters
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.pool import SingletonThreadPool

from omniq_sqlite.options import SQLiteOptions
from omniq_sqlite.schema import METADATA, SCHEMA_VERSION, TABLES_BY_ROLE, schema_versions

__all__ = ["Database", "SchemaVersionError", "open_database"]

log = get_logger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

_SQLITE_HEADER = b"SQLite format 3\x00"


class SchemaVersionError(StorageError):
    """The database was written by a newer OmniQ whose schema this one does not know."""


class Database:
    """A database file shared by the storages of one backend."""

    def __init__(self, options: SQLiteOptions) -> None:
        self.options = options
        self.path = options.resolved_path()
        self.label = ":memory:" if options.in_memory else str(self.path)
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._ready_roles: set[str] = set()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.waiters: Waiters[str] = Waiters()
        """This process's waiters, woken by this process's writes (keys: ``q:<queue>``,
        ``r:<task id>``)."""

    # -- opening ---------------------------------------------------------------------------------

    def open(self, role: str) -> None:
        """Check the file, make the engine, and create or upgrade ``role``'s tables."""
        with self._lock:
            if self._engine is None:
                self._check_file()
                self._engine = self._make_engine()
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="omniq-sqlite")
            if role not in self._ready_roles:
                self._prepare(role)
                self._ready_roles.add(role)

    def _check_file(self) -> None:
        if self.options.in_memory:
            return
        path = self.path
        directory = path.parent if str(path.parent) else Path(".")
        if not directory.is_dir():
            raise ConfigurationError(
                f"Cannot open SQLite database {str(path)!r}: directory {str(directory)!r} does "
                "not exist. Create it, or set database_path to a file in an existing directory."
            )
        if path.is_dir():
            raise ConfigurationError(
                f"Cannot open SQLite database {str(path)!r}: it is a directory. Set "
                "database_path to a file name, e.g. 'omniq.db'."
            )
        if path.exists():
            if not os.access(path, os.R_OK | os.W_OK):
                raise StorageError(
                    f"Cannot open SQLite database {str(path)!r}: the file is not readable and "
                    "writable by this process. Fix its permissions or choose another file."
                )
            with path.open("rb") as file:
                header = file.read(len(_SQLITE_HEADER))
            if header and header != _SQLITE_HEADER:
                raise StorageError(
                    f"{str(path)!r} is not an SQLite database (it was left untouched). Point "
                    "database_path at an SQLite file or at a new file name."
                )
        elif not os.access(directory, os.W_OK):
            raise StorageError(
                f"Cannot create SQLite database {str(path)!r}: directory {str(directory)!r} is "
                "not writable. Fix its permissions or choose another directory."
            )

    def _make_engine(self) -> Engine:
        options = self.options
        if options.in_memory:
            url = f"sqlite:///file:omniq-{uuid.uuid4().hex}?mode=memory&cache=shared&uri=true"
        else:
            url = f"sqlite:///{self.path}"
        engine = create_engine(
            url,
            poolclass=SingletonThreadPool,
            pool_size=256,
            pool_reset_on_return=None,
            connect_args={
                "check_same_thread": False,
                "isolation_level": None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                "timeout": options.timeout,
            },
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: sqlite3.Connection, _: Any) -> None:
            if not options.in_memory:
                dbapi_connection.execute(f"PRAGMA journal_mode={options.journal_mode}")
            dbapi_connection.execute(f"PRAGMA synchronous={options.synchronous}")
            dbapi_connection.execute(f"PRAGMA cache_size={int(options.cache_size)}")
            dbapi_connection.execute(f"PRAGMA busy_timeout={int(options.timeout * 1000)}")

        return engine

    def _prepare(self, role: str) -> None:
        engine = self._engine
        assert engine is not None
        try:
            with self.write() as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS omniq_schema "
                    "(role VARCHAR PRIMARY KEY, version INTEGER NOT NULL)"
                )
                row = conn.execute(
                    "SELECT version FROM omniq_schema WHERE role = ?", (role,)
                ).fetchone()
            found = None if row is None else int(row[0])
            if found is not None and found > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"SQLite database {self.label!r} holds {role} tables of schema version "
                    f"{found}, written by a newer OmniQ; this omniq-sqlite understands up to "
                    f"{SCHEMA_VERSION}. Upgrade omniq-sqlite (pip install -U omniq-sqlite); "
                    "the database was not changed."
                )
            if found == SCHEMA_VERSION:
                return
            existing = set(inspect(engine).get_table_names())
            tables = TABLES_BY_ROLE[role]
            with engine.begin() as connection:
                METADATA.create_all(connection, tables=[schema_versions, *tables])
            self._upgrade(role, found, existing)
            with self.write() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO omniq_schema (role, version) VALUES (?, ?)",
                    (role, SCHEMA_VERSION),
                )
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"Cannot use SQLite database {self.label!r}: {exc}. If it is not an OmniQ "
                "database, choose another file; nothing was changed."
            ) from exc

    def _upgrade(self, role: str, found: int | None, existing: set[str]) -> None:
        """Bring ``role``'s tables from version ``found`` to :data:`SCHEMA_VERSION`.

        Version 1 is the first; later versions add their ``ALTER TABLE`` steps here, each in its
        own transaction, so rows are kept across upgrades."""
        if found is None and existing & {t.name for t in TABLES_BY_ROLE[role]}:
            log.info("adopting unversioned omniq tables", database=self.label, role=role)

    # -- running statements ----------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (made on first use, then reused)."""
        engine = self._engine
        if engine is None:
            raise StorageError(f"SQLite database {self.label!r} is not open (call connect())")
        held = getattr(self._local, "held", None)
        if held is None or held[0] is not engine:
            fairy = engine.raw_connection()  # kept checked out by this thread
            driver = fairy.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            held = self._local.held = (engine, fairy, driver)
        connection: sqlite3.Connection = held[2]
        return connection

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction on this thread's connection, committed at the end
        (rolled back on error); waits out other writers within the configured timeout."""
        conn = self.connection()
        self._begin(conn)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _begin(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self.options.timeout
        delay = 0.001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StorageError(
                        f"SQLite database {self.label!r} stayed locked by another writer for "
                        f"{self.options.timeout} s; raise the backend's timeout option if this "
                        "load is expected"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the database's thread."""
        executor = self._executor
        if executor is None:
            raise StorageError(f"SQLite database {self.label!r} is not open (call connect())")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, lambda: fn(*args, **kwargs))

    def data_version(self) -> int:
        """Changes whenever another connection commits (SQLite's ``PRAGMA data_version``)."""
        row = self.connection().execute("PRAGMA data_version").fetchone()
        return int(row[0])

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
            executor, self._executor = self._executor, None
            self._ready_roles.clear()
        if executor is not None:
            executor.shutdown(wait=True)
        if engine is not None:
            engine.dispose()


def open_database(ctx: Any) -> Database:
    """The backend's database (shared by its storages through the backend context)."""
    options = ctx.options if isinstance(ctx.options, SQLiteOptions) else SQLiteOptions()
    database: Database = ctx.shared("sqlite-database", lambda: Database(options), _close)
    return database


def _close(database: Database) -> None:
    database.close()
