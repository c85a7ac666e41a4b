"""The primitives a store implements for the kit: versioned keys, read, conditional writes.

A :class:`KVStore` holds byte values under string keys, each with a **version** the store
assigns and changes on every write. Every method is one atomic step against every other caller
the store declares (this process; other processes too if the class declares ``MULTI_PROCESS``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import ClassVar

from attrs import frozen

from omniq.storage import Capability

__all__ = ["Item", "KVStore", "Watch", "Write"]


@frozen
class Item:
    """A key's value and the version the store gave it when it was written."""

    key: str
    value: bytes
    version: Hashable


@frozen
class Write:
    """One conditional write: store ``value`` under ``key`` if its version is still ``version``
    (``None``: only if the key is absent). ``value=None`` deletes the key if its version is still
    ``version`` (``None``: whatever its version)."""

    key: str
    value: bytes | None
    version: Hashable | None
    expires_at: float | None = None


class Watch(ABC):
    """Waits for a write under one prefix, from the moment it was made."""

    @abstractmethod
    async def wait(self, timeout: float) -> None:
        """Return once a key under the prefix may have changed since the watch was made (at once
        if one did), or after ``timeout`` seconds. Spurious returns are allowed."""

    def close(self) -> None:  # noqa: B027 (optional)
        """Stop watching."""


class KVStore(ABC):
    """Implement the five abstract methods (and optionally :meth:`watch`) on your store;
    :mod:`omniq.kit` builds the four storage roles on them.

    Keys are ASCII strings of letters, digits and ``/ _ - . :`` (the kit builds them from names the
    core validated), at most 200 characters. Values are bytes.
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    """``PERSISTENT`` and ``MULTI_PROCESS`` if the store has them (the kit adds ``PUSH_WAKEUP``
    when :meth:`watch` is overridden). Declare ``MULTI_PROCESS`` only if every method is atomic
    across processes."""
    expires: ClassVar[bool] = False
    """Set when the store drops keys past their ``expires_at`` itself (the kit then never scans
    results to purge them)."""

    async def connect(self) -> None:  # noqa: B027 (optional)
        """Open the store; safe to call more than once."""

    async def close(self) -> None:  # noqa: B027 (optional)
        """Release the store; safe to call more than once."""

    def describe(self) -> str:
        return type(self).__name__

    @abstractmethod
    async def get(self, key: str) -> Item | None:
        """The key's value and version, or ``None``."""

    @abstractmethod
    async def put_if_absent(
        self, key: str, value: bytes, *, expires_at: float | None = None
    ) -> bool:
        """Create ``key``; ``False`` (and no change) if it exists. ``expires_at`` (a Unix time)
        is a hint for a store that sets :attr:`expires`."""

    @abstractmethod
    async def compare_and_set(
        self, key: str, value: bytes, version: Hashable, *, expires_at: float | None = None
    ) -> bool:
        """Replace the value of ``key`` if its version is still ``version``; ``False`` (and no
        change) otherwise, or if the key is gone."""

    @abstractmethod
    async def delete(self, key: str, version: Hashable | None = None) -> bool:
        """Delete ``key`` (only if its version is still ``version``, when given); whether it did."""

    @abstractmethod
    async def scan(self, prefix: str) -> list[Item]:
        """Every item whose key starts with ``prefix``, sorted by key. One consistent read is not
        required: each item is as it was at some moment during the call."""

    def watch(self, prefix: str) -> Watch | None:
        """Optional change notification: a :class:`Watch` of the keys under ``prefix``, made
        *before* the caller reads what it waits for (so no write in between is missed), or
        ``None`` (the default) if the store cannot tell. Override it to get ``PUSH_WAKEUP``: a
        watch must be woken by writes from every process the store declares, by a push or a
        cheap check of a change marker (a file's mtime, a counter) every few milliseconds."""
        return None

    async def apply(self, writes: Sequence[Write]) -> list[bool]:
        """Several conditional writes, each applied or refused on its own (not a transaction);
        whether each was applied. Override it to save round trips (one lock, one file write)."""
        done: list[bool] = []
        for write in writes:
            if write.value is None:
                done.append(
                    write.version is not None and await self.delete(write.key, write.version)
                )
            elif write.version is None:
                done.append(
                    await self.put_if_absent(write.key, write.value, expires_at=write.expires_at)
                )
            else:
                done.append(
                    await self.compare_and_set(
                        write.key, write.value, write.version, expires_at=write.expires_at
                    )
                )
        return done
