"""The ``omniq`` command configures logging (the library never does): structlog lines on stderr,
for people or (``--json``) as JSON lines, at the level the user chose.

The level, first given wins: ``--log-level``, ``-q``/``--quiet`` (WARNING), the environment's
``OMNIQ_LOG_LEVEL``, the app's configured ``log_level``, then INFO for ``worker`` and
``scheduler`` and WARNING for the other commands.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import structlog

from omniq.errors import ConfigurationError
from omniq.models.config import LOG_LEVELS

__all__ = ["LEVEL_ENV_VAR", "chosen_level", "configure_logging"]

LEVEL_ENV_VAR = "OMNIQ_LOG_LEVEL"


def _level(value: str, where: str) -> str:
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigurationError(
            f"Invalid log level {value!r} ({where}): use one of {', '.join(LOG_LEVELS)}"
        )
    return level


def chosen_level(
    flag: str | None, *, quiet: bool, configured: str | None, default: str = "INFO"
) -> str:
    """The level to log at (see the module docs for the order)."""
    if flag:
        return _level(flag, "--log-level")
    if quiet:
        return "WARNING"
    env = os.environ.get(LEVEL_ENV_VAR)
    if env:
        return _level(env, LEVEL_ENV_VAR)
    if configured:
        return _level(configured, "the app's log_level")
    return default


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured: a
    stream swapped later (by a test runner's capture, a daemonizer) and closed is never written."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str, *, as_json: bool, stream: TextIO | None = None) -> None:
    """Send structlog's (and the standard library's) lines at ``level`` and above to
    ``stream`` (default: the current stderr), rendered for people or as one JSON object per
    line."""
    out: Any = stream or _CurrentStderr()
    numeric = logging.getLevelNamesMapping()[level]
    renderer: Any = (
        structlog.processors.JSONRenderer(default=str)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(numeric)
