"""OmniQ's loggers: structlog loggers with context bound, and never any logging configuration.

OmniQ is a library: it only *emits* events (stable, lower-case event names such as
``"backend loaded"``) with key/value context; the application decides where they go. When the
application has configured structlog, OmniQ's loggers follow that configuration (even if it was
set up after they were made). When it has not, they do not fall back to structlog's default
(which prints every debug line to stdout): they hand a ``key=value`` line to the standard
library logger of the same name, so ``logging.basicConfig`` or any handler decides, and by default
only warnings and errors reach stderr.

Context values that are strings are passed through :func:`omniq._redact.mask_secrets` when bound,
so a URL bound as context never shows its password; values passed per call must already be masked.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import structlog
from structlog.typing import FilteringBoundLogger

from omniq._redact import mask_secrets

__all__ = ["get_logger"]

_STDLIB_PROCESSORS: list[Any] = [
    structlog.stdlib.filter_by_level,
    structlog.processors.format_exc_info,
    structlog.processors.KeyValueRenderer(key_order=["event"], drop_missing=True),
]


def _safe(value: Any) -> Any:
    return mask_secrets(value) if isinstance(value, str) else value


class _Logger:
    """Resolves, at each call, to a logger for the logging set-up of that moment."""

    __slots__ = ("_cached", "_context", "_name")

    def __init__(self, name: str, context: dict[str, Any]) -> None:
        self._name = name
        self._context = context
        self._cached: tuple[bool, Any] | None = None

    def _target(self) -> Any:
        configured = structlog.is_configured()
        cached = self._cached
        if cached is not None and cached[0] is configured:
            return cached[1]
        if configured:
            target = structlog.get_logger(self._name, **self._context)
        else:
            target = structlog.wrap_logger(
                logging.getLogger(self._name),
                processors=_STDLIB_PROCESSORS,
                wrapper_class=structlog.stdlib.BoundLogger,
            ).bind(**self._context)
        self._cached = (configured, target)
        return target

    def is_enabled_for(self, level: int) -> bool:
        """Whether a line at ``level`` (``logging.INFO``...) would be written now: callers skip
        building lines nobody reads (the worker decides once, at start)."""
        target = self._target()
        check = getattr(target, "is_enabled_for", None)  # structlog's filtering loggers
        if check is None:
            check = getattr(target, "isEnabledFor", None)  # the standard library's
        return True if check is None else bool(check(level))

    def bind(self, **context: Any) -> _Logger:
        return _Logger(self._name, {**self._context, **{k: _safe(v) for k, v in context.items()}})

    def __getattr__(self, method: str) -> Any:
        return getattr(self._target(), method)


def get_logger(name: str, **context: Any) -> FilteringBoundLogger:
    """A logger for ``name`` (a module's ``__name__``) with ``context`` bound
    (for example ``backend="redis"``, ``queue="default"``, ``task_id=...``)."""
    logger = _Logger(name, {key: _safe(value) for key, value in context.items()})
    return cast(FilteringBoundLogger, logger)
