"""Records to bytes and back in the chosen format. Pickle runs code when loading: it is used
only when ``serialization_format="pickle"`` was chosen."""

from __future__ import annotations

import pickle
from typing import Any, TypeVar

import orjson
from omniq.errors import StorageError
from omniq.serialization.records import dumps_record, loads_record, record_converter

__all__ = ["CorruptFileError", "RecordCodec"]

T = TypeVar("T")


class CorruptFileError(StorageError):
    """A stored file could not be read back (truncated, corrupt, or another format)."""


class RecordCodec:
    def __init__(self, fmt: str) -> None:
        self.format = fmt
        self.suffix = {"json": "json", "msgpack": "mpk", "pickle": "pkl"}[fmt]

    def dumps(self, record: Any) -> bytes:
        if self.format == "json":
            return dumps_record(record)
        if self.format == "msgpack":
            import msgpack  # type: ignore[import-untyped]

            packed: bytes = msgpack.packb(record_converter().unstructure(record), use_bin_type=True)
            return packed
        return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)

    def loads_items(
        self, data: bytes, key: str, cls: type[T], *, where: str = ""
    ) -> tuple[list[T], list[tuple[int, str]]]:
        """The records of the list in field ``key`` of the document in ``data``, each decoded
        on its own: those that could be, and ``(position, problem)`` of those that could not.
        :class:`CorruptFileError` if the document itself cannot be read."""
        if self.format == "pickle":
            items = getattr(self.loads(data, object, where=where), key, None)
            if not isinstance(items, list):
                raise CorruptFileError(f"Cannot read {where or 'a stored file'}: no {key!r} list")
            return [item for item in items if isinstance(item, cls)], []
        try:
            if self.format == "json":
                doc = orjson.loads(data)
            else:
                import msgpack

                doc = msgpack.unpackb(data, raw=False)
            items = doc[key]
            if not isinstance(items, list):
                raise TypeError(f"{key!r} holds {type(items).__name__}, not a list")
        except Exception as exc:
            raise CorruptFileError(f"Cannot read {where or 'a stored file'}: {exc}") from exc
        structure = record_converter().get_structure_hook(cls)
        found: list[T] = []
        problems: list[tuple[int, str]] = []
        for position, item in enumerate(items):
            try:
                found.append(structure(item, cls))
            except Exception as exc:
                problems.append((position, f"{type(exc).__name__}: {exc}"))
        return found, problems

    def loads(self, data: bytes, cls: type[T], *, where: str = "") -> T:
        try:
            if self.format == "json":
                return loads_record(data, cls)
            if self.format == "msgpack":
                import msgpack

                return record_converter().structure(msgpack.unpackb(data, raw=False), cls)
            loaded = pickle.loads(data)  # noqa: S301 (chosen explicitly; documented)
            if not isinstance(loaded, cls):
                raise TypeError(f"expected {cls.__name__}, found {type(loaded).__name__}")
            return loaded
        except Exception as exc:
            raise CorruptFileError(f"Cannot read {where or 'a stored file'}: {exc}") from exc
