"""Which results expire when, so that purging reads only those whose time came (local disks).

Storing a result with an ``expires_at`` appends its task id to the file of the minute it
expires in, ``results/expiry/<YYYYmmddHHMM>.idx`` (one ``O_APPEND`` write). A purge takes each
file of a minute that has begun by renaming it to ``<minute>.<random>.purging`` (a result
stored meanwhile starts a new file), deletes the results it names that are expired, writes back
the names not yet expired of a minute that is not over, and deletes the taken file. So a purge
every minute reads about a minute's worth of results, however many are stored. A purger that
dies leaves its ``.purging`` file, which a purge takes over once it is :data:`STALE` seconds old.

A name in a file is only a hint: the result file's own ``expires_at`` decides (a result
replaced by one of another TTL, or deleted, is skipped). Results stored by layouts before 3
are in no file: the layout upgrade leaves ``results/unindexed``, and the first purge after it
reads every result once, then removes the marker.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from omniq_file.blobs import LocalBlobs

__all__ = ["FOLDER", "STALE", "UNINDEXED", "minute_of", "note", "take_due"]

FOLDER = "results/expiry"
UNINDEXED = "results/unindexed"
"""Present while results stored before layout 3 (in no expiry file) may exist."""
STALE = 300.0


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")


def note(blobs: LocalBlobs, entries: Iterable[tuple[str, datetime]]) -> None:
    """Record that each ``(task id, expires_at)`` expires then: one append per minute."""
    by_minute: dict[str, list[str]] = {}
    for task_id, expires_at in entries:
        by_minute.setdefault(minute_of(expires_at), []).append(task_id)
    for minute, ids in by_minute.items():
        blobs.append(f"{FOLDER}/{minute}.idx", "".join(f"{i}\n" for i in ids).encode())


def take_due(
    blobs: LocalBlobs,
    now: datetime,
    purge: Callable[[list[str]], list[tuple[str, datetime]]],
) -> None:
    """Hand the task ids of every begun minute to ``purge``, which returns ``(task id,
    expires_at)`` of those whose result is not expired yet; those expiring in the minute taken
    (not over yet) are written back, the others have an entry in their own minute."""
    current = minute_of(now)
    for name in sorted(blobs.list(FOLDER)):
        minute = name.split(".", 1)[0]
        if minute > current:
            break
        path = f"{FOLDER}/{name}"
        if name.endswith(".idx"):
            taken = f"{FOLDER}/{minute}.{uuid.uuid4().hex[:12]}.purging"
            if not blobs.rename(path, taken):
                continue  # another purger took it
        elif name.endswith(".purging") and _age(blobs, path) > STALE:
            taken = path  # its purger died
        else:
            continue
        data = blobs.read(taken) or b""
        ids = list(dict.fromkeys(line for line in data.decode(errors="replace").split("\n")))
        kept = purge([i for i in ids if i])
        note(blobs, [(i, at) for i, at in kept if minute_of(at) == minute])
        blobs.delete(taken)


def _age(blobs: LocalBlobs, path: str) -> float:
    try:
        return time.time() - os.stat(os.path.join(blobs.root, path)).st_mtime
    except FileNotFoundError:
        return 0.0
