"""The ``json`` serializer: JSON, plus the types of :mod:`omniq.serialization.json_types`.

Plain JSON values are written exactly as before this serializer carried other types, so every
stored record still decodes. A value JSON cannot hold as itself (a tuple, a set, a datetime, a
dict with int keys, a registered enum or class...) is written as a tagged object
``{"__omniq__": NAME, "value": V}``; a user's dict with a ``"__omniq__"`` key is written tagged
too, so it cannot be taken for one.

Cost: a call whose arguments are all str/int/float/bool/None (the usual task) is encoded with no
walk in Python; containers are walked once (nothing is copied unless something is tagged).
Decoding looks for ``"__omniq__"`` in the bytes first and reads plain JSON without a hook.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import threading
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import attrs

from omniq.errors import SerializationError
from omniq.serialization.json_types import TAG, JSONType, JSONTypes, json_types

__all__ = ["JSONSerializer", "json_serializer"]

_SCALARS = frozenset({str, int, float, bool, type(None)})
_EXACT = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})
_MARK = b'"' + TAG.encode() + b'"'
_MARK_TEXT = f'"{TAG}"'
_WRITTEN = (ValueError, TypeError, OverflowError, RecursionError)


def _refuse(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _Encoder(threading.local):
    """The standard library's C encoder, built once per thread (``JSONEncoder.encode`` builds it
    anew on every call: 0.36 against 1.33 µs for a small call, the enqueue hot path). Its table
    of the containers being encoded catches circular values; it is emptied after a failure."""

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

    def encode(self, value: Any) -> bytes:
        try:
            return "".join(self.chunks(value, 0)).encode()
        except BaseException:
            self.markers.clear()
            raise


class _Strict(set[int]):
    """The containers being walked, by a walk that checks every value (to explain a failure)."""


class _Refused(Exception):
    """Raised inside the walk; ``path`` is filled innermost first as it unwinds."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[Any] = []


def _where(root: str, path: list[Any]) -> str:
    keys = (json.dumps(k, ensure_ascii=False) if isinstance(k, str) else repr(k) for k in path)
    return root + "".join(f"[{key}]" for key in reversed(list(keys)))


class JSONSerializer:
    """JSON with a type registry (``types``; the shared :data:`json_types` by default)."""

    name = "json"
    executes_code = False

    def __init__(self, types: JSONTypes = json_types) -> None:
        self._types = types
        self._encode = _Encoder().encode

    # -- writing ---------------------------------------------------------------------------

    def dumps(self, value: Any, *, root: str = "value") -> bytes:
        """``value`` as JSON bytes; ``root`` names it in errors (``result["when"]``)."""
        if type(value) not in _SCALARS:
            value = self._walk(value, root)
        try:
            return self._encode(value)
        except _WRITTEN as exc:
            self._explain(value, root)
            raise self._failed(value, exc) from exc

    def dumps_call(self, args: Iterable[Any], kwargs: dict[str, Any]) -> bytes:
        """The payload of ``f(*args, **kwargs)``: ``[args, kwargs]`` as JSON bytes; errors name
        the argument (``args[1]["when"]``, ``kwargs["at"]``)."""
        arguments = list(args)  # our own copy: converted in place
        scalars = _SCALARS
        plain = True
        for value in arguments:  # a loop beats a C-level check for a few arguments
            if type(value) not in scalars:
                plain = False
                break
        if plain and kwargs:
            if TAG in kwargs:
                plain = False
            else:
                for value in kwargs.values():
                    if type(value) not in scalars:
                        plain = False
                        break
        if plain:
            call: list[Any] = [arguments, kwargs]
            try:
                return self._encode(call)
            except _WRITTEN as exc:
                self._explain(arguments, "args")
                self._explain(kwargs, "kwargs")
                raise self._failed(call, exc) from exc
        active: set[int] | None = None
        for index, value in enumerate(arguments):
            if type(value) not in scalars:
                active = active or set()
                arguments[index] = self._convert_at(value, active, "args", index)
        named = kwargs
        if TAG in kwargs:
            named = self._walk(kwargs, "kwargs")
        else:
            for key, value in kwargs.items():
                if type(value) not in scalars:
                    active = active or set()
                    if named is kwargs:
                        named = dict(kwargs)
                    named[key] = self._convert_at(value, active, "kwargs", key)
        call = [arguments, named]
        try:
            return self._encode(call)
        except _WRITTEN as exc:
            self._explain(arguments, "args")
            self._explain(named, "kwargs")
            raise self._failed(call, exc) from exc

    def _convert_at(self, value: Any, active: set[int], root: str, key: Any) -> Any:
        try:
            return self._convert(value, active)
        except _Refused as refused:
            refused.path.append(key)
            raise self._refused(refused, root) from None
        except RecursionError:
            raise self._too_deep(root) from None

    @staticmethod
    def _failed(value: Any, exc: BaseException) -> SerializationError:
        return SerializationError(
            f"Cannot serialize {type(value).__name__} with the 'json' serializer: {exc}"
        )

    def _explain(self, value: Any, root: str) -> None:
        """Raise the error naming where in ``value`` the encoder failed (a NaN in a list the
        walk took for flat), if it can tell."""
        self._walk(value, root, _Strict())

    def _walk(self, value: Any, root: str, active: set[int] | None = None) -> Any:
        """``value`` converted; ``root`` names it in errors."""
        try:
            return self._convert(value, set() if active is None else active)
        except _Refused as refused:
            raise self._refused(refused, root) from None
        except RecursionError:
            raise self._too_deep(root) from None

    @staticmethod
    def _refused(refused: _Refused, root: str) -> SerializationError:
        return SerializationError(
            f"Cannot serialize {_where(root, refused.path)} with the 'json' serializer: "
            f"{refused.problem}"
        )

    @staticmethod
    def _too_deep(root: str) -> SerializationError:
        return SerializationError(
            f"Cannot serialize {root} with the 'json' serializer: it is nested too deeply"
        )

    def _convert(self, value: Any, active: set[int]) -> Any:
        """``value`` with every non-JSON part tagged (``value`` itself when nothing is)."""
        kind = type(value)
        if kind in _EXACT:
            return value
        if kind is float:
            if math.isfinite(value):
                return value
            raise _Refused(f"{value!r} is not a JSON number (store it as a string or a Decimal)")
        if kind is list:
            if _SCALARS.issuperset(map(type, value)) and type(active) is set:
                return value  # flat (a NaN is found when the encoder refuses it)
            return self._list(value, active)
        if kind is dict:
            if (
                type(active) is set
                and TAG not in value
                and _SCALARS.issuperset(map(type, value.values()))
                and _STR.issuperset(map(type, value))
            ):
                return value  # flat
            return self._dict(value, active)
        return self._other(value, kind, active)

    def _enter(self, value: Any, active: set[int]) -> int:
        marker = id(value)
        if marker in active:
            raise _Refused("it contains itself (a circular reference)")
        active.add(marker)
        return marker

    def _list(self, value: list[Any], active: set[int]) -> list[Any]:
        marker = self._enter(value, active)
        out: list[Any] | None = None
        for index, item in enumerate(value):
            if type(item) in _EXACT:
                continue
            try:
                new = self._convert(item, active)
            except _Refused as refused:
                refused.path.append(index)
                raise
            if new is not item:
                if out is None:
                    out = list(value)
                out[index] = new
        active.discard(marker)
        return value if out is None else out

    def _dict(self, value: dict[Any, Any], active: set[int]) -> Any:
        if TAG in value:
            return self._pairs(value, active)
        marker = self._enter(value, active)
        out: dict[str, Any] | None = None
        for key, item in value.items():
            if type(key) is not str:
                active.discard(marker)
                return self._pairs(value, active)
            if type(item) in _EXACT:
                continue
            try:
                new = self._convert(item, active)
            except _Refused as refused:
                refused.path.append(key)
                raise
            if new is not item:
                if out is None:
                    out = dict(value)
                out[key] = new
        active.discard(marker)
        return value if out is None else out

    def _pairs(self, value: dict[Any, Any], active: set[int]) -> dict[str, Any]:
        """A dict JSON cannot hold as an object (keys not all strings, or the tag key)."""
        marker = self._enter(value, active)
        pairs: list[list[Any]] = []
        for key, item in value.items():
            try:
                pairs.append([self._convert(key, active), self._convert(item, active)])
            except _Refused as refused:
                refused.path.append(key)
                raise
        active.discard(marker)
        return {TAG: "dict", "value": pairs}

    def _other(self, value: Any, kind: type[Any], active: set[int]) -> Any:
        entry = self._types.by_type.get(kind)
        if entry is not None:
            return self._tagged(entry, value, active)
        if isinstance(value, enum.Enum) or attrs.has(kind) or dataclasses.is_dataclass(value):
            raise _Refused(self._unregistered(kind))
        for base in kind.__mro__[1:]:
            entry = self._types.by_type.get(base)
            if entry is not None and base is not dict:
                return self._tagged(entry, value, active)  # a namedtuple is written as a tuple
            if base is list:
                return self._list(list(value), active)
            if base is dict:
                return self._dict(dict(value), active)
            if base in (str, int, float):
                return self._convert(base(value), active)
        raise _Refused(self._unregistered(kind))

    def _tagged(self, entry: JSONType, value: Any, active: set[int]) -> dict[str, Any]:
        marker = self._enter(value, active)
        try:
            encoded = entry.encode(value)
        except Exception as exc:
            raise _Refused(f"the {entry.name!r} type's encode failed: {exc!r}") from exc
        converted = {TAG: entry.name, "value": self._convert(encoded, active)}
        active.discard(marker)
        return converted

    def _unregistered(self, kind: type[Any]) -> str:
        named = f"{kind.__module__}.{kind.__qualname__}"
        how = (
            f"register_json_type({kind.__qualname__})"
            if issubclass(kind, enum.Enum) or attrs.has(kind) or dataclasses.is_dataclass(kind)
            else f"register_json_type({kind.__qualname__}, encode=..., decode=...)"
        )
        return (
            f"a value of type {named} is not one it carries. Register the type with "
            f"omniq.serialization.{how} in the module that defines your tasks, pass a "
            "supported value (JSON types, datetime, date, time, timedelta, UUID, Decimal, bytes, "
            "tuple, set, frozenset, dicts with any hashable keys), or choose another serializer"
        )

    # -- reading ---------------------------------------------------------------------------

    def loads(self, data: bytes | bytearray | memoryview | str) -> Any:
        """A value from :meth:`dumps`'s bytes (or any JSON); only registered types are built."""
        try:
            if type(data) is bytes:
                tagged = _MARK in data
            elif isinstance(data, str):
                tagged = _MARK_TEXT in data
            else:
                data = bytes(data)
                tagged = _MARK in data
            if not tagged:
                return json.loads(data)
            return json.loads(data, object_hook=self._untag)
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"Cannot deserialize data with the 'json' serializer: {exc}"
            ) from exc

    def _untag(self, obj: dict[str, Any]) -> Any:
        if TAG not in obj:
            return obj
        name = obj[TAG]
        if len(obj) != 2 or "value" not in obj or not isinstance(name, str):
            raise SerializationError(
                f"Malformed tagged object in JSON data: expected {{{TAG!r}: name, 'value': ...}}"
            )
        entry = self._types.by_name.get(name)
        if entry is None:
            shown = name if len(name) <= 80 else name[:80] + "..."
            raise SerializationError(
                f"The JSON data holds a value of the type {shown!r}, which is not registered in "
                "this process (a record never chooses what is built). Register it with "
                "omniq.serialization.register_json_type in the module that defines your tasks, "
                "so producers and workers both import it."
            )
        try:
            return entry.decode(obj["value"])
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(f"Cannot decode a value of type {name!r}: {exc}") from exc


@cache
def json_serializer() -> JSONSerializer:
    """The shared ``json`` serializer (on :data:`json_types`)."""
    return JSONSerializer()
