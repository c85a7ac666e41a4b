"""What the file backend's storages share: the files, the record format, this process's
waiters, and quarantine for files that cannot be read."""

from __future__ import annotations

import threading
import time
from typing import Any, TypeVar

from attrs import frozen
from omniq.logging import get_logger
from omniq.models.event import TaskEvent
from omniq.models.task import Task
from omniq.plugins.specs import BackendContext
from omniq.storage.wakeup import Waiters

from omniq_file.blobs import Blobs, open_blobs
from omniq_file.codec import CorruptFileError, RecordCodec
from omniq_file.layout import check_layout
from omniq_file.locks import KeyLocks
from omniq_file.options import FileOptions

__all__ = ["EventBatch", "FileStore", "StoredTask", "prior_deliveries", "store_for"]

log = get_logger(__name__)
T = TypeVar("T")
_REMEMBERED = 10_000


@frozen(kw_only=True)
class StoredTask:
    """A task file's content: the task and what the queue noted about it."""

    task: Task
    last_error: str | None = None
    deliveries: int | None = None
    """Claims of the task before this file was written (never reset). ``None`` in files of the
    layouts before 3, which did not count them: see :func:`prior_deliveries`."""


def prior_deliveries(stored: StoredTask, name_attempt: int, *, active: bool) -> int:
    """The claims a task file records, before the claim an active file is under.

    Files of layouts 1 and 2 did not count deliveries; their name's attempt counted claims
    (minus releases at shutdown, reset by ``requeue_dead``), so it is the honest lower bound:
    results those layouts stored carry delivery 0, below any delivery counted from it."""
    deliveries = getattr(stored, "deliveries", None)  # a pickle of layout 2 lacks the slot
    if deliveries is not None:
        return int(deliveries)
    return max(name_attempt - 1, 0) if active else name_attempt


@frozen(kw_only=True)
class EventBatch:
    events: list[TaskEvent]


class FileStore:
    def __init__(self, options: FileOptions) -> None:
        self.options = options
        self.codec = RecordCodec(options.serialization_format)
        self.waiters: Waiters[str] = Waiters()
        self.lock = threading.RLock()
        """Serializes this process's multi-step changes (all changes on object stores)."""
        self._blobs: Blobs | None = None
        self._result_locks: KeyLocks | None = None
        self._seen: set[str] = set()

    @property
    def blobs(self) -> Blobs:
        if self._blobs is None:
            protocol, root = self.options.location()
            blobs = open_blobs(
                protocol,
                root,
                storage_options=dict(self.options.storage_options),
                fsync=self.options.fsync,
            )
            check_layout(blobs)
            self._blobs = blobs
        return self._blobs

    @property
    def result_locks(self) -> KeyLocks:
        """The locks a result's compare-and-set is made under, by task id."""
        if self._result_locks is None:
            with self.lock:
                if self._result_locks is None:
                    self._result_locks = KeyLocks(self.blobs, "results")
        return self._result_locks

    def close(self) -> None:
        if self._result_locks is not None:
            self._result_locks.close()
            self._result_locks = None

    def load(self, path: str, cls: type[T]) -> T | None:
        """The record in ``path``; ``None`` if it is gone or unreadable (then quarantined)."""
        data = self.blobs.read(path)
        if data is None:
            return None
        try:
            return self.codec.loads(data, cls, where=f"{self.blobs.label}/{path}")
        except CorruptFileError as exc:
            self.quarantine(path, exc)
            return None

    def quarantine(self, path: str, problem: Exception) -> None:
        """Move an unreadable file aside (``quarantine/``) so it never stops a worker again."""
        target = f"quarantine/{int(time.time() * 1000)}-{path.replace('/', '__')}"
        moved = self.blobs.rename(path, target)
        log.warning(
            "unreadable file quarantined",
            path=f"{self.blobs.label}/{path}",
            moved_to=f"{self.blobs.label}/{target}" if moved else None,
            problem=str(problem),
        )

    def first_time(self, key: str) -> bool:
        """Whether ``key`` is new to this process (so a problem is logged once, not at every
        poll of a subscription). Remembers up to :data:`_REMEMBERED` keys."""
        with self.lock:
            if key in self._seen:
                return False
            if len(self._seen) >= _REMEMBERED:
                self._seen.clear()
            self._seen.add(key)
            return True

    def dump(self, record: Any) -> bytes:
        return self.codec.dumps(record)


def store_for(ctx: BackendContext) -> FileStore:
    options = ctx.options if isinstance(ctx.options, FileOptions) else FileOptions()
    store: FileStore = ctx.shared("file-store", lambda: FileStore(options), close=FileStore.close)
    return store
