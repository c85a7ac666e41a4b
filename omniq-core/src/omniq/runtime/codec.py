"""Encoding of call arguments and return values into task payloads and results.

A task's payload is ``serializer.dumps([list(args), kwargs])``; a result's payload is
``serializer.dumps(value)``. Both raise :class:`~omniq.errors.SerializationError` with a clear
message (JSON's names the part of the value it is about: ``args[1]["when"]``, ``result["at"]``),
so a bad argument fails at enqueue and not in a worker.

Decoding takes the serializers the caller's configuration allows (``allowed``; JSON alone unless
told otherwise): a payload whose record names another is refused with
:class:`~omniq.errors.SerializerNotAllowedError` before a byte of it is read (see
:mod:`omniq.serialization.policy`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from omniq.errors import SerializationError
from omniq.serialization import get_serializer
from omniq.serialization.policy import DEFAULT_SERIALIZERS, check_serializer
from omniq.serialization.tagged_json import json_serializer

__all__ = ["decode_call", "decode_value", "encode_call", "encode_value"]

_json = json_serializer()


def _dumps(serializer_name: str, value: Any) -> bytes:
    if serializer_name == "json":
        return _json.dumps(value, root="result")
    return get_serializer(serializer_name).dumps(value)


def encode_call(serializer_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The payload of a call ``f(*args, **kwargs)``."""
    if serializer_name == "json":
        return _json.dumps_call(args, kwargs)
    return _dumps(serializer_name, [list(args), kwargs])


def decode_call(
    serializer_name: str,
    payload: bytes,
    *,
    allowed: Collection[str] = DEFAULT_SERIALIZERS,
    what: str = "a task's arguments",
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` from a payload made by :func:`encode_call`, if ``serializer_name``
    (the record's) is one of ``allowed`` (the configuration's)."""
    check_serializer(serializer_name, allowed, what=what)
    if not payload:
        return (), {}
    data = get_serializer(serializer_name).loads(payload)
    if (
        not isinstance(data, list | tuple)
        or len(data) != 2
        or not isinstance(data[0], list | tuple)
        or not isinstance(data[1], dict)
    ):
        raise SerializationError(
            f"Malformed task payload for the {serializer_name!r} serializer: expected "
            f"[args, kwargs], got {type(data).__name__}"
        )
    return tuple(data[0]), data[1]


def encode_value(serializer_name: str, value: Any) -> bytes:
    """A return value as bytes."""
    return _dumps(serializer_name, value)


def decode_value(
    serializer_name: str,
    data: bytes,
    *,
    allowed: Collection[str] = DEFAULT_SERIALIZERS,
    what: str = "a result",
) -> Any:
    """A return value from :func:`encode_value`'s bytes, if ``serializer_name`` (the record's)
    is one of ``allowed`` (the configuration's)."""
    check_serializer(serializer_name, allowed, what=what)
    return get_serializer(serializer_name).loads(data)
