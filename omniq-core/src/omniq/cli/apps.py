"""Making the app a command works on: the user's app object (``--app module:attr``), or one
built from ``--config FILE`` or the environment; and importing ``module:function`` names.

The working directory is importable (as with ``python -m``), and import or lookup problems
become one-line :class:`~omniq.errors.ConfigurationError` messages that say how to fix them.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from typing import Any

from omniq.errors import ConfigurationError
from omniq.models.config import OmniQConfig
from omniq.runtime.async_app import AsyncOmniQ

__all__ = ["app_label", "import_object", "load_app"]

STARTED_AT_IMPORT = (
    "{path!r} was started while its module was imported (a `with OmniQ(...)` block or a call "
    "that uses the app at the module's top level), so a command cannot use it. Keep only the app "
    "and its tasks at the top level (`oq = OmniQ(...)`, `@oq.task`) and move the code that uses "
    "it under `if __name__ == \"__main__\":` or into a function (see docs/guide.md)"
)


def load_app(app_path: str | None, config_path: str | None, *, workers: int = 0) -> AsyncOmniQ:
    """The async app to run: from ``app_path`` (``module:attribute``, an ``OmniQ`` or
    ``AsyncOmniQ``), else a new one from ``config_path`` (YAML) or the environment."""
    if app_path and config_path:
        raise ConfigurationError(
            "Give --app or --config, not both: the app object carries its own configuration"
        )
    if app_path:
        target = import_object(app_path, what="app", example="myproject.tasks:oq")
        core = getattr(target, "async_app", target)  # the sync OmniQ wraps an AsyncOmniQ
        if not isinstance(core, AsyncOmniQ):
            raise ConfigurationError(
                f"{app_path!r} is a {type(target).__name__}, not an OmniQ or AsyncOmniQ app: "
                "name the app object, e.g. myproject.tasks:oq"
            )
        if core.started:
            raise ConfigurationError(STARTED_AT_IMPORT.format(path=app_path))
        return core
    config = OmniQConfig.from_yaml(config_path) if config_path else OmniQConfig.from_env()
    return AsyncOmniQ(config=config, workers=workers)


def app_label(app_path: str | None, config_path: str | None) -> str:
    """How the banner names where the app came from."""
    if app_path:
        return app_path
    if config_path:
        return f"--config {config_path}"
    return "the OMNIQ_* environment (or SQLite omniq.db in the working directory)"


def import_object(path: str, *, what: str, example: str) -> Any:
    """``module:attribute`` (dots allowed in both), imported with the working directory on
    the path; errors say what is missing and what exists."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"Invalid {what} {path!r}: use 'module:attribute', e.g. {example!r}"
        )
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # like `python -m`: the project in the working directory
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigurationError(
                f"Cannot import {what} module {module_name!r}: no module named {exc.name!r} in "
                f"{cwd} or on PYTHONPATH. Run omniq from your project's folder or set PYTHONPATH"
            ) from exc
        raise ConfigurationError(
            f"Cannot import {what} module {module_name!r}: it imports {exc.name!r}, which is not "
            "installed here"
        ) from exc
    except ImportError as exc:
        raise ConfigurationError(f"Cannot import {what} module {module_name!r}: {exc}") from exc
    target: Any = module
    for part in attribute.split("."):
        found = getattr(target, part, None)
        if found is None:
            names = [n for n in dir(target) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"Module {module_name!r} has no {what} {attribute!r}{hint}"
            )
        target = found
    return target
