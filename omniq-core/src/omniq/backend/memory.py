"""``from omniq.backend.memory import MemoryBackend`` (resolved through the plugin system; see
:mod:`omniq.backend`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omniq.backend import module_getattr

__all__ = ["MemoryBackend"]

if TYPE_CHECKING:
    from omniq.backend import MemoryBackend
else:
    __getattr__ = module_getattr(__name__, ("MemoryBackend",))
