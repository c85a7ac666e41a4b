"""Sorted listings of ``pending/`` folders kept between claims.

Listing and sorting a deep folder costs about 0.4 µs per entry (2 ms for 5,000, measured), so
listing it for every claim of a few tasks cost more than the claims. A listing is reused while
the folder's modification time is the one recorded after this process's own last claim from it,
nothing was enqueued into it by this process, and it is younger than :data:`MAX_AGE`; a claim
that the remaining names cannot fill lists again, so a task is never missed. A task another
process adds *while* this process claims changes the folder before the time is recorded, so
it can wait behind the cached names: for at most :data:`MAX_AGE`, the limit on that priority
inversion.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from omniq_file.blobs import Blobs

__all__ = ["MAX_AGE", "PendingListings"]

MAX_AGE = 1.0
"""Seconds a listing is reused at most (relisting 30,000 names once a second costs ~1%)."""


class _Listing:
    """Names in claim order; those before ``start`` were taken."""

    __slots__ = ("listed_at", "names", "start", "version")

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.start = 0
        self.version: Any = None
        self.listed_at = time.monotonic()

    def remaining(self) -> Iterator[str]:
        names = self.names
        return (names[i] for i in range(self.start, len(names)))

    def drop(self, gone: set[str]) -> None:
        """Forget ``gone``: usually a run at the front (claims take the first names)."""
        names, start = self.names, self.start
        while start < len(names) and names[start] in gone:
            gone.discard(names[start])
            start += 1
        self.start = start
        if gone:  # some were behind names still waiting (not yet due): rebuild
            self.names = [n for n in names[start:] if n not in gone]
            self.start = 0


class PendingListings:
    """This process's cached listings, one per ``pending/`` folder."""

    def __init__(self) -> None:
        self._cached: dict[str, _Listing] = {}

    def names(self, blobs: Blobs, folder: str, *, fresh: bool) -> tuple[Iterator[str], bool]:
        """``folder``'s names in claim order, and whether they were just listed."""
        cached = self._cached.get(folder)
        if (
            not fresh
            and cached is not None
            and cached.version is not None
            and cached.start < len(cached.names)
            and time.monotonic() - cached.listed_at < MAX_AGE
            and blobs.version(folder) == cached.version
        ):
            return cached.remaining(), False
        listing = self._cached[folder] = _Listing(sorted(blobs.list(folder)))
        return listing.remaining(), True

    def settle(self, blobs: Blobs, folder: str, gone: Iterable[str]) -> None:
        """Drop the names this claim took (or found taken) and note the folder's version now."""
        cached = self._cached.get(folder)
        if cached is not None:
            cached.drop(set(gone))
            cached.version = blobs.version(folder)

    def forget(self, folder: str) -> None:
        """This process added to ``folder``: list it again at the next claim."""
        self._cached.pop(folder, None)
