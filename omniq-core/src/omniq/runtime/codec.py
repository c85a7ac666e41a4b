"""Encoding of call arguments and return values into task payloads and results.

A task's payload is ``serializer.dumps([list(args), kwargs])``; a result's payload is
``serializer.dumps(value)``. Both raise :class:`~omniq.errors.SerializationError` with a clear
message, so a bad argument fails at enqueue and not in a worker.
"""

from __future__ import annotations

import json
from typing import Any

from omniq.errors import SerializationError
from omniq.serialization import get_serializer

__all__ = ["decode_call", "decode_value", "encode_call", "encode_value"]


# The JSON serializer's exact output, without building a JSONEncoder per call (the hot path).
_json_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _dumps(serializer_name: str, value: Any) -> bytes:
    if serializer_name == "json":
        try:
            return _json_encode(value).encode()
        except (TypeError, ValueError, OverflowError, RecursionError):
            pass  # let the serializer raise its SerializationError
    return get_serializer(serializer_name).dumps(value)


def encode_call(serializer_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The payload of a call ``f(*args, **kwargs)``."""
    return _dumps(serializer_name, [list(args), kwargs])


def decode_call(serializer_name: str, payload: bytes) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` from a payload made by :func:`encode_call`."""
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


def decode_value(serializer_name: str, data: bytes) -> Any:
    """A return value from :func:`encode_value`'s bytes."""
    return get_serializer(serializer_name).loads(data)
