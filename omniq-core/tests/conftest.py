"""Fixtures for every core test."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

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


@pytest.fixture
def uninstall(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``uninstall("nats", ...)``: discovery as on a machine where those backends are not
    installed (this workspace installs every first-party backend)."""
    from omniq.plugins import discovery

    def hide(*names: str) -> None:
        kept = {n: found for n, found in discovery.discover().items() if n not in names}
        monkeypatch.setattr(discovery, "discover", lambda: kept)

    return hide
