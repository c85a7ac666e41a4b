"""``from omniq.backend.nats import NATSBackend`` (resolved through the plugin system; see
:mod:`omniq.backend`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omniq.backend import module_getattr

__all__ = ["NATSBackend"]

if TYPE_CHECKING:
    from omniq.backend import NATSBackend
else:
    __getattr__ = module_getattr(__name__, ("NATSBackend",))
