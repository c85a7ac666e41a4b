"""A ready converter between OmniQ's records and JSON bytes, for stores that keep bytes or text.

``bytes`` fields (payloads) become base85 text, datetimes ISO 8601 text with their UTC offset,
enums their value, nested records (a result's ``TaskError``) objects; decoding builds the
records again through their validators::

    from omniq.kit.records import decode, encode
    data = encode(task)            # bytes of UTF-8 JSON
    assert decode(data, Task) == task
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from cattrs.preconf.orjson import make_converter

__all__ = ["converter", "decode", "encode", "from_plain", "to_plain"]

T = TypeVar("T")

converter = make_converter()
"""A cattrs converter (orjson flavour) for every record in :mod:`omniq.models`."""


def to_plain(record: Any) -> Any:
    """``record`` as JSON-ready dicts, lists and scalars (datetimes left to orjson)."""
    return converter.unstructure(record)


def from_plain(data: Any, cls: type[T]) -> T:
    """The ``cls`` record that :func:`to_plain` (then a JSON round trip) gave ``data``."""
    return converter.structure(data, cls)


def encode(record: Any) -> bytes:
    """``record`` as UTF-8 JSON bytes."""
    return orjson.dumps(to_plain(record))


def decode(data: bytes | str, cls: type[T]) -> T:
    """The ``cls`` record :func:`encode` wrote; raises ``ValueError`` (or a cattrs error) on bytes
    it cannot read."""
    return from_plain(orjson.loads(data), cls)
