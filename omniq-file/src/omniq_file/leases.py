"""Lease files: ``queues/<queue>/active/<id>.<attempt>.<nonce>.lease``, beside the task file.

On a local disk a lease's expiry is the lease file's modification time, set with ``os.utime``,
and the file holds only ``{"worker": ...}``: so extending a lease is one metadata change (3 µs)
where rewriting the file by temp + rename cost 400 µs, because ext4 flushes a file's data to
disk when a rename replaces another name (``auto_da_alloc``), and the runtime checks a lease by
extending it before it stores each result. On object stores, which cannot set a time, and in
lease files of layout 2, the file holds ``{"expires": <µs>, "worker": ...}``; an ``expires`` in
the content wins over the time.

A new lease file gets its time before its task is renamed into ``active/``, the only way anyone
finds it, so no reader sees it with the creation time instead of the expiry.
"""

from __future__ import annotations

import json
import os
import uuid

from omniq_file.blobs import Blobs, LocalBlobs

__all__ = ["create", "read", "renew", "with_expiry"]


def _times(expires_us: int) -> tuple[int, int]:
    return expires_us * 1000, expires_us * 1000


def create(blobs: Blobs, path: str, expires_us: int, worker_id: str) -> bool:
    """Make the lease file of a new claim; ``False`` if it existed."""
    if not isinstance(blobs, LocalBlobs):
        return blobs.create(path, with_expiry(expires_us, worker_id))
    if not blobs.create(path, _worker(worker_id)):
        return False
    os.utime(os.path.join(blobs.root, path), ns=_times(expires_us))
    return True


def renew(blobs: Blobs, path: str, expires_us: int, worker_id: str) -> bool:
    """Move the lease's expiry to ``expires_us``; ``False`` if the lease file is gone."""
    if not isinstance(blobs, LocalBlobs):
        blobs.write(path, with_expiry(expires_us, worker_id))
        return True
    full = os.path.join(blobs.root, path)
    data = blobs.read(path)
    if data is None:
        return False
    if b'"expires"' in data:  # a layout 2 lease: replace it by one whose time is the expiry
        temp = f"{full}.{uuid.uuid4().hex[:8]}.tmp"
        with open(temp, "xb") as file:
            file.write(_worker(worker_id))
        os.utime(temp, ns=_times(expires_us))
        os.replace(temp, full)
        return True
    try:
        os.utime(full, ns=_times(expires_us))
    except FileNotFoundError:
        return False
    return True


def read(blobs: Blobs, path: str) -> tuple[int, str] | None:
    """``(expires µs, worker id)`` of a lease file; ``None`` if it is gone. A damaged one reads
    as expired long ago (``0``)."""
    data = blobs.read(path)
    if data is None:
        return None
    try:
        doc = json.loads(data)
        worker = str(doc.get("worker") or "")
        if "expires" in doc:
            return int(doc["expires"]), worker
    except (ValueError, TypeError, AttributeError):
        return 0, ""
    if not isinstance(blobs, LocalBlobs):
        return 0, worker
    try:
        return os.stat(os.path.join(blobs.root, path)).st_mtime_ns // 1000, worker
    except FileNotFoundError:
        return None


def _worker(worker_id: str) -> bytes:
    return json.dumps({"worker": worker_id}).encode()


def with_expiry(expires_us: int, worker_id: str) -> bytes:
    return json.dumps({"expires": expires_us, "worker": worker_id}).encode()
