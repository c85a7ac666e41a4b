"""Making the app a command works on: the user's app object (``--app module:attr``), or one
built from ``--config FILE`` or the environment."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from omniq.errors import ConfigurationError
from omniq.models.config import OmniQConfig
from omniq.runtime.async_app import AsyncOmniQ

__all__ = ["load_app"]


def load_app(app_path: str | None, config_path: str | None, *, workers: int = 0) -> AsyncOmniQ:
    """The async app to run: from ``app_path`` (``module:attribute``, an ``OmniQ`` or
    ``AsyncOmniQ``), else a new one from ``config_path`` (YAML) or the environment."""
    if app_path:
        return _import_app(app_path)
    config = OmniQConfig.from_yaml(config_path) if config_path else OmniQConfig.from_env()
    return AsyncOmniQ(config=config, workers=workers)


def _import_app(path: str) -> AsyncOmniQ:
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"Invalid app {path!r}: use 'module:attribute', e.g. 'myproject.tasks:oq'"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the project in the working directory
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"Cannot import app module {module_name!r}: {exc}") from exc
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigurationError(f"Module {module_name!r} has no attribute {attribute!r}")
    core = getattr(target, "async_app", target)  # the sync OmniQ wraps an AsyncOmniQ
    if not isinstance(core, AsyncOmniQ):
        raise ConfigurationError(
            f"{path!r} is a {type(target).__name__}, not an OmniQ or AsyncOmniQ app"
        )
    return core
