"""The ``dashboard`` extra: its libraries are imported only when the dashboard runs."""

from __future__ import annotations

import importlib.util

from omniq.errors import ConfigurationError

__all__ = ["INSTALL_LINE", "require_extra"]

INSTALL_LINE = "pip install 'omniq-core[dashboard]'"
_MODULES = {
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "jinja2": "jinja2",
    "prometheus_client": "prometheus-client",
}


def require_extra() -> None:
    """Raise :class:`~omniq.errors.ConfigurationError` with the install line if a library of
    the extra is missing."""
    missing = [d for m, d in _MODULES.items() if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigurationError(
            f"omniq dashboard needs the dashboard extra ({', '.join(missing)} not installed): "
            f"{INSTALL_LINE}"
        )
