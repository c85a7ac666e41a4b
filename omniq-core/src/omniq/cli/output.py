"""Printing for people (aligned tables) or for scripts (``--json``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any, TextIO
from uuid import UUID

from omniq._redact import mask_secrets

__all__ = ["emit", "table", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Plain JSON values from records, enums, datetimes, UUIDs, Decimals and bytes (credentials
    masked)."""
    import attrs

    if attrs.has(type(value)):
        return {k: to_jsonable(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return mask_secrets(value)
    if hasattr(value, "value") and not isinstance(value, int | float | bool):
        return value.value
    return value


def emit(value: Any, *, as_json: bool, human: str = "", stream: TextIO | None = None) -> None:
    """Print ``value`` as JSON, or ``human`` (default: ``str(value)``) for people."""
    out = stream or sys.stdout
    if as_json:
        out.write(json.dumps(to_jsonable(value), ensure_ascii=False, default=repr) + "\n")
    else:
        out.write((human or mask_secrets(str(value))) + "\n")
    out.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned text table."""
    cells = [[mask_secrets(str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)
