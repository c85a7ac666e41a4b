"""The ``memory`` backend: all four roles in this process's memory.

Fast and safe to use from many threads and tasks at once, but nothing survives the process and
no other process can see it. ``load_backend("memory")`` gives a private store; backends opened
with the same ``namespace`` (``memory://name``) share one store, so a producer and a worker in
one process can each open their own backend.
"""

from omniq.memory.options import MemoryOptions

__all__ = ["MemoryOptions"]
