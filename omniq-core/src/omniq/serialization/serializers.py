"""Payload serializers behind a small registry.

JSON is the default: it cannot run code when loading, and carries datetimes, UUIDs, Decimals,
bytes, tuples, sets and the types you register beyond JSON's own
(:mod:`omniq.serialization.json_types`). ``msgpack`` is compact and also safe.
``pickle`` (cloudpickle when installed) handles nearly any Python object but **executes code when
loading**: anyone who can write to your queue or result store can then run code in your workers.
Use it only when you chose it and trust every writer.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, Protocol

from attrs import frozen

from omniq.errors import SerializationError

__all__ = [
    "Serializer",
    "available_serializers",
    "get_serializer",
    "register_serializer",
]


class Serializer(Protocol):
    """Turns Python values into bytes and back."""

    @property
    def name(self) -> str: ...

    @property
    def executes_code(self) -> bool:
        """True when loading may run code (pickle): only used when explicitly chosen."""
        ...

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


@frozen
class _FunctionSerializer:
    name: str
    _dumps: Callable[[Any], bytes]
    _loads: Callable[[bytes], Any]
    executes_code: bool = False

    def dumps(self, value: Any) -> bytes:
        try:
            return self._dumps(value)
        except (TypeError, ValueError, OverflowError, pickle.PicklingError) as exc:
            raise SerializationError(
                f"Cannot serialize {type(value).__name__} with the {self.name!r} serializer: "
                f"{exc}. "
                "Pass JSON-compatible values (str, int, float, bool, None, list, dict) or choose "
                "another serializer."
            ) from exc

    def loads(self, data: bytes) -> Any:
        try:
            return self._loads(data)
        except Exception as exc:
            raise SerializationError(
                f"Cannot deserialize data with the {self.name!r} serializer: {exc}"
            ) from exc


def _json() -> Serializer:
    from omniq.serialization.tagged_json import json_serializer

    return json_serializer()


def _msgpack() -> _FunctionSerializer:
    try:
        import msgpack  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SerializationError(
            "The 'msgpack' serializer needs the msgpack package. Install it with: "
            "pip install 'omniq-core[msgpack]'"
        ) from exc
    return _FunctionSerializer(
        "msgpack",
        lambda v: msgpack.packb(v, use_bin_type=True),
        lambda d: msgpack.unpackb(d, raw=False, strict_map_key=False),
    )


def _pickle() -> _FunctionSerializer:
    try:
        import cloudpickle  # type: ignore[import-untyped]

        dumps: Callable[[Any], bytes] = cloudpickle.dumps
    except ImportError:
        dumps = pickle.dumps
    return _FunctionSerializer("pickle", dumps, pickle.loads, executes_code=True)


_FACTORIES: dict[str, Callable[[], Serializer]] = {
    "json": _json,
    "msgpack": _msgpack,
    "pickle": _pickle,
}
_CACHE: dict[str, Serializer] = {}


def register_serializer(name: str, factory: Callable[[], Serializer]) -> None:
    """Register a serializer under ``name`` (made lazily, on first use)."""
    _FACTORIES[name] = factory
    _CACHE.pop(name, None)


def available_serializers() -> list[str]:
    return sorted(_FACTORIES)


def get_serializer(name: str) -> Serializer:
    """The serializer called ``name``; ``SerializationError`` naming the known ones if unknown."""
    serializer = _CACHE.get(name)
    if serializer is None:
        factory = _FACTORIES.get(name)
        if factory is None:
            raise SerializationError(
                f"Unknown serializer {name!r}; choose one of {', '.join(available_serializers())}"
            )
        serializer = _CACHE[name] = factory()
    return serializer
