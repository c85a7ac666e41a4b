"""The configuration as plain data (one cattrs converter) and from YAML files."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_origin

import cattrs
import yaml

from omniq.configuration._support import FieldError
from omniq.errors import ConfigurationError
from omniq.models.config import StorageBackendConfig
from omniq.serialization.records import make_converter

if TYPE_CHECKING:
    from omniq.models.config import OmniQConfig

__all__ = ["config_converter", "config_from_yaml"]


def _structure_config(data: Any, cls: type[OmniQConfig]) -> OmniQConfig:
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"Invalid configuration {type(data).__name__}: use a mapping of option names to values"
        )
    bad = [key for key in data if not isinstance(key, str)]
    if bad:
        raise FieldError(str(bad[0]), f"Invalid configuration key {bad[0]!r}: keys are strings")
    return cls(**data)


def _is_tuple_type(type_: Any) -> bool:
    return get_origin(type_) is tuple


def _unstructure_storage(value: StorageBackendConfig) -> dict[str, Any]:
    return {"backend_type": value.backend_type, "url": value.url, "config": dict(value.config)}


@cache
def config_converter() -> cattrs.Converter:
    """The converter between :class:`OmniQConfig` and plain data (made once).

    Structuring goes through ``OmniQConfig(**data)`` so that every form the constructor accepts
    (per-role mappings, URL strings, the older flat keys) and every validation applies; tuples
    become lists so that the output is JSON- and YAML-safe.
    """
    from omniq.models.config import OmniQConfig

    converter = make_converter()
    converter.register_unstructure_hook(StorageBackendConfig, _unstructure_storage)
    converter.register_unstructure_hook_func(_is_tuple_type, list)
    converter.register_structure_hook(OmniQConfig, _structure_config)
    return converter


def config_from_yaml(cls: type[OmniQConfig], path: Path) -> OmniQConfig:
    """``cls`` from the YAML file at ``path`` (``yaml.safe_load``); errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"Cannot read the configuration file {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"{path}: the top level must be a mapping of option names, not {type(data).__name__}"
        )
    try:
        return config_converter().structure(data, cls)
    except FieldError as exc:
        raise FieldError(exc.field, f"{path}: key {exc.field!r}: {exc}") from exc
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
