"""``from omniq.backend.redis import RedisBackend`` (resolved through the plugin system; see
:mod:`omniq.backend`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omniq.backend import module_getattr

__all__ = ["RedisBackend"]

if TYPE_CHECKING:
    from omniq.backend import RedisBackend
else:
    __getattr__ = module_getattr(__name__, ("RedisBackend",))
