"""Encoding of call arguments and return values into task payloads and results.

A task's payload is ``serializer.dumps([list(args), kwargs])``; a result's payload is
``serializer.dumps(value)``. Both raise :class:`~omniq.errors.SerializationError` with a clear
message, so a bad argument fails at enqueue and not in a worker.

Decoding takes the serializers the caller's configuration allows (``allowed``; JSON alone unless
told otherwise): a payload whose record names another is refused with
:class:`~omniq.errors.SerializerNotAllowedError` before a byte of it is read (see
:mod:`omniq.serialization.policy`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection
from typing import Any

from omniq.errors import SerializationError
from omniq.serialization import get_serializer
from omniq.serialization.policy import DEFAULT_SERIALIZERS, check_serializer

__all__ = ["decode_call", "decode_value", "encode_call", "encode_value"]


def _refuse(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _JSONEncoder(threading.local):
    """The JSON serializer's exact output, from the C encoder that ``JSONEncoder.encode`` builds
    anew on every call, built once per thread here (0.36 against 1.33 µs for a small call: the
    enqueue hot path). Each thread's encoder has its own table of the containers being encoded,
    which catches circular values; it is emptied after a failure, which can leave entries."""

    def __init__(self) -> None:
        self.markers: dict[int, Any] = {}
        make = getattr(json.encoder, "c_make_encoder", None)
        if make is None:  # no C accelerator (another Python implementation)
            slow = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            self.chunks: Callable[[Any, int], Any] = lambda value, _: (slow.encode(value),)
        else:
            encode_str = json.encoder.c_encode_basestring  # type: ignore[attr-defined]
            # markers, default, encoder, indent, separators, sort_keys, skipkeys, allow_nan
            self.chunks = make(
                self.markers, _refuse, encode_str, None, ":", ",", False, False, False
            )

    def encode(self, value: Any) -> str:
        try:
            return "".join(self.chunks(value, 0))
        except BaseException:
            self.markers.clear()
            raise


_json_encode = _JSONEncoder().encode


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
