"""Fixtures for every core test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def unconfigured_structlog() -> Iterator[None]:
    """``structlog.testing.capture_logs`` restores the processors but leaves structlog marked as
    configured, which would make OmniQ's loggers print structlog's default debug lines to stdout
    in every later test (and into ``omniq status --json``). Put structlog back as it was."""
    was_configured = structlog.is_configured()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    if not was_configured:
        structlog.reset_defaults()
    root.handlers[:], root.level = handlers, level  # the CLI's configure_logging, run in-process
