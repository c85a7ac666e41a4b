"""OmniQ's loggers: structlog loggers with context bound, and never any logging configuration.

OmniQ is a library: it only *emits* events (stable, lower-case event names such as
``"backend loaded"``) with key/value context; the application decides where they go by configuring
structlog (or the standard library, if structlog is set up to forward to it). Context values that
are strings are passed through :func:`omniq._redact.mask_secrets` when bound, so a URL bound as
context never shows its password; values passed per call must already be masked.
"""

from __future__ import annotations

from typing import Any, cast

import structlog
from structlog.typing import FilteringBoundLogger

from omniq._redact import mask_secrets

__all__ = ["get_logger"]


def _safe(value: Any) -> Any:
    return mask_secrets(value) if isinstance(value, str) else value


def get_logger(name: str, **context: Any) -> FilteringBoundLogger:
    """A structlog logger for ``name`` (a module's ``__name__``) with ``context`` bound
    (for example ``backend="redis"``, ``queue="default"``, ``task_id=...``)."""
    # stays a lazy proxy: the application's structlog configuration applies even when it is set
    # up after this logger was made (at import time)
    logger = structlog.get_logger(name, **{key: _safe(value) for key, value in context.items()})
    return cast(FilteringBoundLogger, logger)
