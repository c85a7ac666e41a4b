"""Which batch files hold a task's events, on local disks.

Each stored batch adds one line ``<task id> <batch file name>`` per task it holds to the index
file of the task's shard in the batch's hour folder, ``events/hours/<hour>/tasks-<shard>.idx``
(16 shards by CRC-32 of the task id). The lines of one shard are appended in a single
``O_APPEND`` write *before* the batch file is renamed into place, so every visible batch is
indexed; a line whose batch never appeared (its writer died) names a missing file and is skipped.
A query for one task reads one small index file per hour and then only the batches it names.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Iterable

from omniq.models.event import TaskEvent

__all__ = ["SHARDS", "batch_names", "index_lines", "index_path", "shard_of"]

SHARDS = 16
_BATCH = re.compile(r"[A-Za-z0-9_-]{1,200}\.(?:events|batch)")
"""What a batch name looks like: anything else in an index (a damaged line) is skipped."""


def shard_of(task_id: str) -> str:
    """The shard (one hex digit) that indexes ``task_id``'s events."""
    return f"{zlib.crc32(task_id.encode()) % SHARDS:x}"


def index_path(hour_folder: str, shard: str) -> str:
    return f"{hour_folder}/tasks-{shard}.idx"


def index_lines(events: Iterable[TaskEvent], batch_name: str) -> dict[str, bytes]:
    """The lines one batch adds, by shard (one line per task, however many events it has)."""
    tasks: dict[str, set[str]] = defaultdict(set)
    for event in events:
        tasks[shard_of(event.task_id)].add(event.task_id)
    return {
        shard: "".join(f"{task} {batch_name}\n" for task in sorted(ids)).encode()
        for shard, ids in tasks.items()
    }


def batch_names(index: bytes, task_id: str) -> list[str]:
    """The batch files an index names for ``task_id`` (a torn last line is ignored)."""
    wanted = task_id.encode() + b" "
    names: list[str] = []
    for line in index.split(b"\n")[:-1]:  # the part after the last newline is incomplete
        if line.startswith(wanted):
            name = line[len(wanted) :].decode(errors="replace")
            if _BATCH.fullmatch(name) and name not in names:
                names.append(name)
    return names
