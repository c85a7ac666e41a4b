"""Rebuilding a table in its current shape, keeping its rows; adding a column in place.

SQLite cannot turn a table into a ``WITHOUT ROWID`` one or drop a column that an index uses in
place; its documented way is to create the new table, copy the rows, drop the old one and rename
the new one (https://www.sqlite.org/lang_altertable.html#otheralter). A :class:`Rebuild` does
that inside the caller's write transaction, so another process either sees the old table or
the new one, and it first checks the table's shape, so a second process upgrading the same file
(or a fresh database) finds nothing to do. An :class:`AddColumn` adds a column at the end
(``ALTER TABLE ADD COLUMN`` changes only the schema, whatever the rows), with the same check.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

import attrs
from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

__all__ = ["AddColumn", "Rebuild"]

_DIALECT = sqlite.dialect()


@attrs.frozen
class Rebuild:
    """Bring ``table``'s rows into its current definition; ``columns`` gives the SQL that reads
    a new column from the old row (a column not named there is copied as it is)."""

    table: Table
    columns: Mapping[str, str] = attrs.field(factory=dict)

    def __call__(self, conn: sqlite3.Connection) -> None:
        if self.is_current(conn):
            return
        name = self.table.name
        interim = f"{name}_rebuilt"
        copy = self.table.to_metadata(MetaData(), name=interim)
        conn.execute(f"DROP TABLE IF EXISTS {interim}")
        conn.execute(str(CreateTable(copy).compile(dialect=_DIALECT)))
        targets = [column.name for column in self.table.columns]
        sources = [self.columns.get(column, column) for column in targets]
        conn.execute(
            f"INSERT INTO {interim} ({', '.join(targets)}) SELECT {', '.join(sources)} FROM {name}"
        )
        conn.execute(f"DROP TABLE {name}")
        conn.execute(f"ALTER TABLE {interim} RENAME TO {name}")
        for index in self.table.indexes:
            conn.execute(str(CreateIndex(index).compile(dialect=_DIALECT)))

    def is_current(self, conn: sqlite3.Connection) -> bool:
        """Whether the table already has the defined columns and rowid choice."""
        name = self.table.name
        found = [row[1] for row in conn.execute(f"PRAGMA table_info({name})")]
        ddl = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        without_rowid = ddl is not None and "WITHOUT ROWID" in ddl[0].upper()
        wanted_without = not self.table.dialect_options["sqlite"]["with_rowid"]
        return found == [c.name for c in self.table.columns] and without_rowid == wanted_without


@attrs.frozen
class AddColumn:
    """Add ``table``'s column ``name`` (defined last) to an older table that lacks it; ``fill``
    is the SQL that sets it in the rows already there (else the column's default)."""

    table: Table
    name: str
    fill: str | None = None

    def __call__(self, conn: sqlite3.Connection) -> None:
        table = self.table.name
        if self.name in [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]:
            return
        column = self.table.columns[self.name]
        conn.execute(
            f"ALTER TABLE {table} ADD COLUMN {CreateColumn(column).compile(dialect=_DIALECT)}"
        )
        if self.fill is not None:
            conn.execute(f"UPDATE {table} SET {self.name} = {self.fill}")
