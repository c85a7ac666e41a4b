"""``from omniq.backend.file import FileBackend`` (resolved through the plugin system; see
:mod:`omniq.backend`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omniq.backend import module_getattr

__all__ = ["FileBackend"]

if TYPE_CHECKING:
    from omniq.backend import FileBackend
else:
    __getattr__ = module_getattr(__name__, ("FileBackend",))
