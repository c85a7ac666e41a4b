"""Sortable unique ids.

An id is 26 characters of Crockford base32: 48 bits of milliseconds since the epoch followed by
80 bits that are random for the first id of a millisecond and incremented for the ones after it,
so ids made by one process sort in creation order and ids made anywhere sort by time (the ULID
layout). Hand-rolled rather than a dependency because it sits on the enqueue hot path.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1
_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id() -> str:
    """A new 26-character id, unique and monotonic within this process."""
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            _last_random = int.from_bytes(os.urandom(10), "big") >> 1
        else:
            _last_random = (_last_random + 1) & _RANDOM_MASK
        value = (_last_ms << _RANDOM_BITS) | _last_random
    return _encode(value)
