"""Deciding which backend each storage role uses and opening them (see ``docs/configuration.md``).

The records themselves live in :mod:`omniq.models.config`. Names resolve lazily, so that the
records module can use this package's helpers without an import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omniq.configuration.env import OTHER_ENV_VARS, known_env_vars
    from omniq.configuration.files import config_converter
    from omniq.configuration.resolve import (
        DEFAULT_STORAGE,
        ResolvedStorage,
        Source,
        backends_for_roles,
        explain_storage_configs,
        open_backends,
        open_role_backends,
        resolve_storage_configs,
    )

_LAZY = {
    "OTHER_ENV_VARS": "omniq.configuration.env",
    "known_env_vars": "omniq.configuration.env",
    "config_converter": "omniq.configuration.files",
    "DEFAULT_STORAGE": "omniq.configuration.resolve",
    "ResolvedStorage": "omniq.configuration.resolve",
    "Source": "omniq.configuration.resolve",
    "backends_for_roles": "omniq.configuration.resolve",
    "explain_storage_configs": "omniq.configuration.resolve",
    "open_backends": "omniq.configuration.resolve",
    "open_role_backends": "omniq.configuration.resolve",
    "resolve_storage_configs": "omniq.configuration.resolve",
}

__all__ = [
    "DEFAULT_STORAGE",
    "OTHER_ENV_VARS",
    "ResolvedStorage",
    "Source",
    "backends_for_roles",
    "config_converter",
    "explain_storage_configs",
    "known_env_vars",
    "open_backends",
    "open_role_backends",
    "resolve_storage_configs",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'omniq.configuration' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
