"""``from omniq.backend.sqlite import SQLiteBackend`` (resolved through the plugin system; see
:mod:`omniq.backend`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omniq.backend import module_getattr

__all__ = ["SQLiteBackend"]

if TYPE_CHECKING:
    from omniq.backend import SQLiteBackend
else:
    __getattr__ = module_getattr(__name__, ("SQLiteBackend",))
