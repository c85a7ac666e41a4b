"""What a worker process is waiting on, on request: ``kill -USR1 <pid>``.

A worker that does not stop, or stops claiming, is found out by asking it: on SIGUSR1 an
``omniq worker`` process writes the stack of every thread and of every asyncio task on its
loop to stderr and carries on (as Celery's workers do for their threads). Nothing else is
written: no arguments or local values, so no secret reaches the output.
"""

from __future__ import annotations

import asyncio
import faulthandler
import sys

__all__ = ["END_OF_DUMP", "dump_stacks"]


END_OF_DUMP = "OmniQ: end of the stacks\n"
"""The dump's last line: a reader that waits for it has the whole dump."""


def dump_stacks() -> None:
    """Write every thread's stack, then every asyncio task's (on the running loop), to stderr."""
    out = sys.stderr
    out.write("OmniQ: stacks of this process's threads\n")
    out.flush()
    faulthandler.dump_traceback(out, all_threads=True)
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # no running loop
        tasks = set()
    out.write(f"OmniQ: {len(tasks)} asyncio tasks\n")
    for task in sorted(tasks, key=lambda t: t.get_name()):
        out.write(f"--- task {task.get_name()} ({'done' if task.done() else 'pending'})\n")
        task.print_stack(file=out)
    out.write(END_OF_DUMP)
    out.flush()
