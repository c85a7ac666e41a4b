"""``from omniq.backend.postgres import PostgreSQLBackend`` (resolved through the plugin system; see
:mod:`omniq.backend`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omniq.backend import module_getattr

__all__ = ["PostgreSQLBackend", "PostgresBackend"]

if TYPE_CHECKING:
    from omniq.backend import PostgresBackend, PostgreSQLBackend
else:
    __getattr__ = module_getattr(
        __name__,
        (
            "PostgreSQLBackend",
            "PostgresBackend",
        ),
    )
