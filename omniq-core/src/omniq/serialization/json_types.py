"""The types the JSON serializer carries beyond JSON's own, by name.

A value of one of these types is written as a *tagged object*, ``{"__omniq__": NAME, "value":
V}``, where ``V`` is plain JSON (itself tagged where needed). Built in: ``datetime``, ``date``,
``time``, ``timedelta``, ``uuid``, ``decimal``, ``bytes``, ``bytearray``, ``tuple``, ``set``,
``frozenset`` and ``dict`` (a dict with keys that are not all strings, kept as pairs).

Your own types join with :func:`register_json_type`: an enum, an attrs class or a dataclass needs
only the class; anything else gives ``encode`` (the value as something the serializer can write)
and ``decode`` (the value back from that). A process decodes only the names registered in it:
a record naming a class can never make it import or build one, so register your types in the
module that defines your tasks (imported by producers and workers alike).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import threading
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from attrs import frozen

from omniq.errors import SerializationError

__all__ = [
    "TAG",
    "JSONType",
    "JSONTypes",
    "json_types",
    "register_json_type",
]

TAG = "__omniq__"
"""The key that marks a tagged object (a user's dict with this key is itself written tagged)."""

T = TypeVar("T")


@frozen
class JSONType:
    """One registered type: its ``name`` in records, and how a value of ``cls`` is written
    (``encode``: to a value the serializer can write) and read back (``decode``)."""

    name: str
    cls: type[Any]
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


class JSONTypes:
    """A registry of :class:`JSONType` by class (for writing) and by name (for reading)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_type: dict[type[Any], JSONType] = {}
        self.by_name: dict[str, JSONType] = {}

    def register(
        self,
        cls: type[T],
        *,
        name: str | None = None,
        encode: Callable[[T], Any] | None = None,
        decode: Callable[[Any], T] | None = None,
    ) -> type[T]:
        """Register ``cls`` (see :func:`register_json_type`); returns ``cls``."""
        if not isinstance(cls, type):
            raise SerializationError(f"register_json_type takes a class, got {cls!r}")
        if (encode is None) != (decode is None):
            raise SerializationError(
                f"register_json_type({cls.__qualname__}) needs both encode and decode, or neither"
            )
        if encode is None or decode is None:
            encode, decode = _derived(cls)
        entry = JSONType(name or f"{cls.__module__}:{cls.__qualname__}", cls, encode, decode)
        with self._lock:
            known = self.by_name.get(entry.name)
            if known is not None and known.cls is not cls:
                raise SerializationError(
                    f"The JSON type name {entry.name!r} is already registered for "
                    f"{_qualified(known.cls)}; give {_qualified(cls)} another name="
                )
            stale = self.by_type.get(cls)
            if stale is not None and stale.name != entry.name:
                del self.by_name[stale.name]
            self.by_type[cls] = entry
            self.by_name[entry.name] = entry
        return cls

    def unregister(self, cls: type[Any]) -> None:
        """Forget ``cls`` (tests; a record naming it no longer decodes)."""
        with self._lock:
            entry = self.by_type.pop(cls, None)
            if entry is not None:
                del self.by_name[entry.name]

    def names(self) -> list[str]:
        return sorted(self.by_name)


def _qualified(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _derived(cls: type[Any]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """``encode`` and ``decode`` for an enum, an attrs class or a dataclass."""
    if issubclass(cls, enum.Enum):
        return (lambda member: member.value), cls
    if attrs.has(cls):
        fields = [(f.name, f.alias or f.name) for f in attrs.fields(cls) if f.init]
        return _by_fields(cls, fields)
    if dataclasses.is_dataclass(cls):
        fields = [(f.name, f.name) for f in dataclasses.fields(cls) if f.init]
        return _by_fields(cls, fields)
    raise SerializationError(
        f"{_qualified(cls)} is not an enum, an attrs class or a dataclass: register it with "
        "encode= (the value as something JSON can hold) and decode= (the value back)"
    )


def _by_fields(
    cls: type[Any], fields: list[tuple[str, str]]
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    def encode(value: Any) -> dict[str, Any]:
        return {arg: getattr(value, attribute) for attribute, arg in fields}

    def decode(value: Any) -> Any:
        if not isinstance(value, dict):
            raise SerializationError(f"{_qualified(cls)} is stored as an object of its fields")
        return cls(**value)

    return encode, decode


def _datetime(value: datetime) -> str:
    return value.isoformat()


def _builtins(types: JSONTypes) -> None:
    types.register(datetime, name="datetime", encode=_datetime, decode=datetime.fromisoformat)
    types.register(date, name="date", encode=date.isoformat, decode=date.fromisoformat)
    types.register(time, name="time", encode=time.isoformat, decode=time.fromisoformat)
    types.register(
        timedelta,
        name="timedelta",
        encode=lambda d: [d.days, d.seconds, d.microseconds],
        decode=lambda v: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    )
    types.register(uuid.UUID, name="uuid", encode=str, decode=uuid.UUID)
    types.register(Decimal, name="decimal", encode=str, decode=Decimal)
    types.register(bytes, name="bytes", encode=_b64, decode=base64.b64decode)
    types.register(
        bytearray, name="bytearray", encode=_b64, decode=lambda v: bytearray(base64.b64decode(v))
    )
    types.register(tuple, name="tuple", encode=list, decode=tuple)
    types.register(set, name="set", encode=_ordered, decode=set)
    types.register(frozenset, name="frozenset", encode=_ordered, decode=frozenset)
    # ``dict`` is written by the encoder itself (pairs), only for keys JSON cannot hold.
    types.register(dict, name="dict", encode=lambda d: list(d.items()), decode=dict)


def _b64(data: bytes | bytearray) -> str:
    return base64.b64encode(data).decode("ascii")


def _ordered(items: set[Any] | frozenset[Any]) -> list[Any]:
    """A set's items, sorted when they can be (the same set gives the same bytes)."""
    try:
        return sorted(items)
    except TypeError:
        return list(items)


json_types = JSONTypes()
"""The registry the ``json`` serializer uses."""
_builtins(json_types)


def register_json_type(
    cls: type[T],
    *,
    name: str | None = None,
    encode: Callable[[T], Any] | None = None,
    decode: Callable[[Any], T] | None = None,
) -> type[T]:
    """Let the ``json`` serializer carry values of ``cls`` (usable as a class decorator).

    An enum, an attrs class or a dataclass needs nothing else (an enum is written as its value,
    a class as its ``__init__`` fields). Any other class gives ``encode`` (returns something the
    serializer can write: JSON values, or any registered type) and ``decode`` (takes that back).
    ``name`` is what records hold (``"module:QualName"`` by default): keep it stable once
    records exist, and register the same name in every process that reads them.
    """
    return json_types.register(cls, name=name, encode=encode, decode=decode)
