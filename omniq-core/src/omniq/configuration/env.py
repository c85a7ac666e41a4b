"""Reading the configuration from ``OMNIQ_*`` environment variables.

Per role (``TASK_QUEUE``, ``RESULT_STORAGE``, ``EVENT_STORAGE``, ``SCHEDULE_STORAGE``):
``OMNIQ_<ROLE>_TYPE``, ``OMNIQ_<ROLE>_URL`` and ``OMNIQ_<ROLE>_OPTIONS`` (a JSON object of backend
options). Every other field ``x`` is ``OMNIQ_X``. Empty variables count as unset. An ``OMNIQ_*``
variable that is not known but is close to a known one is an error (a typo would otherwise be
silently ignored); other ``OMNIQ_*`` variables are left alone.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import fields

from omniq.configuration._support import FieldError, mask_secrets
from omniq.errors import ConfigurationError, InvalidValueError
from omniq.models.config import ROLE_FIELDS, StorageBackendConfig

if TYPE_CHECKING:
    from omniq.models.config import OmniQConfig

__all__ = [
    "ENV_PREFIX",
    "OTHER_ENV_VARS",
    "config_kwargs_from_env",
    "known_env_vars",
    "role_from_env",
]

ENV_PREFIX = "OMNIQ_"
OTHER_ENV_VARS: set[str] = {"OMNIQ_DISABLE_PLUGINS"}
"""``OMNIQ_*`` variables read by other parts of OmniQ (add yours), never reported as typos."""

_INTS = ("max_payload_size", "workers", "default_max_retries")
_FLOATS = ("default_ttl", "lease_seconds", "shutdown_grace", "retry_backoff")
_BOOLS = ("scheduler_enabled", "eager")
_BOOL_WORDS = ("1", "true", "yes", "on", "0", "false", "no", "off")
_TRUE = set(_BOOL_WORDS[:4])
_FALSE = set(_BOOL_WORDS[4:])
_NONE = {"none", "null", "never"}


def _scalar_fields() -> list[str]:
    from omniq.models.config import OmniQConfig

    return [f.name for f in fields(OmniQConfig) if f.name not in ROLE_FIELDS]


def known_env_vars() -> list[str]:
    """Every environment variable the configuration (and the rest of OmniQ) reads."""
    names = [ENV_PREFIX + name.upper() for name in _scalar_fields()]
    for role_field in ROLE_FIELDS:
        role = role_field.removesuffix("_backend").upper()
        names += [f"{ENV_PREFIX}{role}_{part}" for part in ("TYPE", "URL", "OPTIONS")]
    return sorted(set(names) | OTHER_ENV_VARS)


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def role_from_env(environ: Mapping[str, str], role: str) -> StorageBackendConfig | None:
    """The configuration of ``role`` (``"task_queue"``, ...) from the environment, if any."""
    stem = f"{ENV_PREFIX}{role.upper()}"
    type_, url = _get(environ, f"{stem}_TYPE"), _get(environ, f"{stem}_URL")
    raw_options = _get(environ, f"{stem}_OPTIONS")
    options: Any = {}
    if raw_options is not None:
        try:
            options = json.loads(raw_options)
        except ValueError as exc:
            raise FieldError(
                f"{stem}_OPTIONS",
                f"Invalid {stem}_OPTIONS: not JSON ({exc}); use a JSON object such as "
                "'{\"timeout\": 30}'",
            ) from exc
        if not isinstance(options, dict):
            raise FieldError(
                f"{stem}_OPTIONS",
                f"Invalid {stem}_OPTIONS {mask_secrets(options)!r}: use a JSON object of options",
            )
    if type_ is None and url is None:
        if raw_options is not None:
            raise FieldError(
                f"{stem}_OPTIONS",
                f"{stem}_OPTIONS is set but {stem}_TYPE and {stem}_URL are not: name the backend",
            )
        return None
    try:
        return StorageBackendConfig(type_, url, options)
    except FieldError as exc:
        var = f"{stem}_{'TYPE' if exc.field == 'backend_type' else exc.field.upper()}"
        raise FieldError(var, f"{var}: {exc}") from exc


def _parse(name: str, var: str, text: str) -> Any:
    lowered = text.lower()
    if name == "default_ttl" and lowered in _NONE:
        return None
    try:
        if name in _INTS:
            return int(text.replace("_", ""))
        if name in _FLOATS:
            return float(text)
    except ValueError:
        kind = "an integer" if name in _INTS else "a number of seconds"
        raise FieldError(var, f"Invalid {var} {text!r}: use {kind}") from None
    if name in _BOOLS:
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise FieldError(
            var, f"Invalid {var} {text!r}: use one of 1, true, yes, on, 0, false, no, off"
        )
    return text


def _check_typos(environ: Mapping[str, str]) -> None:
    known = known_env_vars()
    for name in environ:
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
        if close:
            raise FieldError(
                name,
                f"Unknown environment variable {name}: did you mean {close[0]}? "
                f"(known: {', '.join(known)})",
            )


def config_kwargs_from_env(cls: type[OmniQConfig], environ: Mapping[str, str]) -> OmniQConfig:
    """``cls(...)`` built from the ``OMNIQ_*`` variables in ``environ``."""
    _check_typos(environ)
    kwargs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for role_field in ROLE_FIELDS:
        role_config = role_from_env(environ, role_field.removesuffix("_backend"))
        if role_config is not None:
            kwargs[role_field] = role_config
    for name in _scalar_fields():
        var = ENV_PREFIX + name.upper()
        text = _get(environ, var)
        if text is not None:
            kwargs[name] = _parse(name, var, text)
            sources[name] = var
    try:
        return cls(**kwargs)
    except InvalidValueError as exc:
        source = sources.get(exc.field)
        if source is None:
            raise
        raise InvalidValueError(source, environ[source], exc.allowed) from exc
    except FieldError as exc:
        source = sources.get(exc.field)
        if source is None:
            raise
        raise FieldError(source, f"{source}: {exc}") from exc
    except ConfigurationError as exc:
        raise ConfigurationError(f"Invalid configuration from the environment: {exc}") from exc
