"""How an app starts its in-process worker and scheduler (adapters to ``omniq.runtime.worker``
and ``omniq.scheduling``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omniq.runtime.async_app import AsyncOmniQ
    from omniq.runtime.events_sink import EventSink
    from omniq.runtime.stores import Stores

__all__ = ["make_scheduler", "make_worker"]


def make_worker(app: AsyncOmniQ, stores: Stores, sink: EventSink) -> Any:
    """The app's worker (not started)."""
    raise RuntimeError(
        "The in-process worker is not available in this build yet; pass workers=0 and run "
        "workers separately"
    )


def make_scheduler(app: AsyncOmniQ, stores: Stores) -> Any:
    """The app's scheduler loop (not started), or ``None``."""
    return None
