"""The older configuration forms, mapped onto one :class:`StorageBackendConfig` per role.

- flat keys: ``task_queue_type="redis"``, ``result_storage_url=...``, ``<role>_<option>=...``
  (an option of that role's backend) and ``<backend>_<option>=...`` (an option of that backend
  wherever a role uses it: ``redis_host``, ``sqlite_database_path``, ``postgresql_dsn``);
- per-role mappings: ``task_queue: {type: redis, host: localhost}``.

Older option names are renamed: for SQLite ``path``/``db_path`` become ``database_path``, for the
file backend ``path`` becomes ``base_dir``; the backend name ``postgresql`` becomes ``postgres``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import fields

from omniq.configuration._support import FieldError, did_you_mean, mask_secrets
from omniq.models.config import (
    BACKEND_ALIASES,
    ROLE_FIELDS,
    SCHEME_BACKENDS,
    StorageBackendConfig,
    normalize_backend_name,
    url_scheme,
)

__all__ = ["apply_legacy_keys", "storage_config_from_mapping"]

ROLE_PREFIXES = tuple(name.removesuffix("_backend") for name in ROLE_FIELDS)
OPTION_RENAMES: Mapping[str, Mapping[str, str]] = {
    "sqlite": {"path": "database_path", "db_path": "database_path"},
    "file": {"path": "base_dir"},
}
_FIRST_PARTY = frozenset(SCHEME_BACKENDS.values()) | frozenset(BACKEND_ALIASES)
_STORAGE_KEYS = ("backend_type", "url", "config")


def _renamed(backend: str | None, options: Mapping[str, Any]) -> dict[str, Any]:
    renames = OPTION_RENAMES.get(backend or "", {})
    return {renames.get(key, key): value for key, value in options.items()}


def _backend_of(type_: object, url: object) -> str | None:
    if isinstance(type_, str):
        return normalize_backend_name(type_)
    if isinstance(url, str):
        scheme = url_scheme(url)
        return SCHEME_BACKENDS.get(scheme or "")
    return None


def storage_config_from_mapping(value: Mapping[str, Any], where: str) -> StorageBackendConfig:
    """A :class:`StorageBackendConfig` from ``{backend_type, url, config}`` or from the older
    ``{type: ..., <option>: ...}`` form. ``where`` names the key, for error messages."""
    data = dict(value)
    if "type" in data and "backend_type" not in data:
        type_ = data.pop("type")
        url = data.pop("url", None)
        options = dict(data.pop("options", None) or data.pop("config", None) or {})
        options.update(data)
        return StorageBackendConfig(type_, url, _renamed(_backend_of(type_, url), options))
    unknown = [key for key in data if key not in _STORAGE_KEYS]
    if unknown:
        key = str(unknown[0])
        raise FieldError(
            key,
            f"Unknown key {key!r} in {where}: use backend_type, url and config (backend options "
            f"go inside config).{did_you_mean(key, _STORAGE_KEYS)}",
        )
    return StorageBackendConfig(**data)


def _known_keys() -> list[str]:
    from omniq.models.config import OmniQConfig

    names = [f.name for f in fields(OmniQConfig)]
    for role in ROLE_PREFIXES:
        names += [role, f"{role}_type", f"{role}_url", f"{role}_options"]
    return names


def _unknown_key(key: str, value: Any) -> FieldError:
    return FieldError(
        key,
        f"Unknown configuration key {key!r}.{did_you_mean(key, _known_keys())} "
        "Use the OmniQConfig fields, '<role>_type', '<role>_url' or '<role>_<option>' for the "
        "roles task_queue, result_storage, event_storage and schedule_storage, or "
        "'<backend>_<option>' for a backend that a role uses (such as redis_host)",
    )


def apply_legacy_keys(
    roles: dict[str, StorageBackendConfig | None], legacy: Mapping[str, Any]
) -> dict[str, StorageBackendConfig | None]:
    """``roles`` (per-role field name -> configuration) with the older keys in ``legacy``
    applied; raises :class:`ConfigurationError` for keys that fit no form."""
    roles = dict(roles)
    parts: dict[str, dict[str, Any]] = {role: {} for role in ROLE_PREFIXES}
    by_backend: dict[str, Any] = {}
    for key, value in legacy.items():
        if key in ROLE_PREFIXES:
            _set_role(roles, key, key, _nested(key, value))
            continue
        role = next((r for r in ROLE_PREFIXES if key.startswith(f"{r}_")), None)
        if role is None:
            by_backend[key] = value
        else:
            parts[role][key.removeprefix(f"{role}_")] = value
    for role, given in parts.items():
        if given:
            _set_role(roles, role, f"{role}_{next(iter(given))}", _from_parts(role, given))
    _apply_backend_options(roles, by_backend)
    return roles


def _nested(key: str, value: Any) -> StorageBackendConfig:
    if isinstance(value, StorageBackendConfig):
        return value
    if isinstance(value, Mapping):
        return storage_config_from_mapping(value, key)
    if isinstance(value, str):
        scheme = url_scheme(value)
        return StorageBackendConfig(url=value) if scheme else StorageBackendConfig(value)
    raise FieldError(
        key, f"Invalid {key} {mask_secrets(value)!r}: use a mapping such as {{'type': 'sqlite'}}"
    )


def _set_role(
    roles: dict[str, StorageBackendConfig | None], role: str, key: str, value: StorageBackendConfig
) -> None:
    field_name = f"{role}_backend"
    if roles[field_name] is not None:
        raise FieldError(
            key, f"{key} conflicts with {field_name}: configure the {role} role one way only"
        )
    roles[field_name] = value


def _from_parts(role: str, given: dict[str, Any]) -> StorageBackendConfig:
    given = dict(given)
    type_ = given.pop("type", None)
    url = given.pop("url", None)
    extra = given.pop("options", None) or {}
    if not isinstance(extra, Mapping):
        raise FieldError(
            f"{role}_options", f"Invalid {role}_options {extra!r}: use a mapping of options"
        )
    if type_ is None and url is None:
        key = f"{role}_{next(iter(given or extra), 'options')}"
        raise FieldError(
            key,
            f"{key} is set but {role}_type is not: name the backend of the {role} role "
            f"(such as {role}_type='sqlite')",
        )
    options = {**extra, **given}
    return StorageBackendConfig(type_, url, _renamed(_backend_of(type_, url), options))


def _apply_backend_options(
    roles: dict[str, StorageBackendConfig | None], given: Mapping[str, Any]
) -> None:
    used = {cfg.backend_type for cfg in roles.values() if cfg is not None and cfg.backend_type}
    prefixes = {name: name for name in used}
    prefixes.update({alias: name for alias, name in BACKEND_ALIASES.items() if name in used})
    options: dict[str, dict[str, Any]] = {}
    for key, value in given.items():
        prefix = max((p for p in prefixes if key.startswith(f"{p}_")), key=len, default=None)
        if prefix is None:
            first = key.split("_", 1)[0]
            if first in _FIRST_PARTY and "_" in key:
                backend = normalize_backend_name(first)
                raise FieldError(
                    key,
                    f"{key} configures the {backend} backend, but no storage role uses it: set "
                    f"a role's backend (such as task_queue_type={backend!r}) or remove {key}",
                )
            raise _unknown_key(key, value)
        options.setdefault(prefixes[prefix], {})[key.removeprefix(f"{prefix}_")] = value
    for field_name, cfg in roles.items():
        if cfg is None or cfg.backend_type not in options:
            continue
        extra = _renamed(cfg.backend_type, options[cfg.backend_type])
        url = cfg.url if cfg.url is not None else extra.pop("url", None)
        extra.pop("url", None)
        roles[field_name] = StorageBackendConfig(cfg.backend_type, url, {**extra, **cfg.config})
