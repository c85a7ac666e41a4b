"""What the SQLite storages share: the database of their backend and role-scoped opening."""

from __future__ import annotations

import asyncio
import os
from typing import ClassVar

from omniq.plugins.specs import BackendContext

from omniq_sqlite.database import Database, open_database

__all__ = ["SQLiteStorageMixin"]


class SQLiteStorageMixin:
    """Connects by opening the backend's database and preparing this role's tables."""

    role: ClassVar[str]

    def __init__(self, ctx: BackendContext) -> None:
        self.db: Database = open_database(ctx)

    async def connect(self) -> None:
        self.db.open(self.role)

    async def close(self) -> None:
        """The database is the backend's: it closes it once every storage is done."""

    async def exists(self) -> bool:
        if self.db.label == ":memory:":
            return True
        return await asyncio.to_thread(os.path.exists, self.db.path)

    def describe(self) -> str:
        """The database file (absolute), or ``:memory:``."""
        label = self.db.label
        return f"sqlite {label if label == ':memory:' else os.path.abspath(label)}"
