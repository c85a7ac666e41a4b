"""Pipelines that call the Lua scripts by SHA in one round trip (async: on the backend's
multiplexed connection, :mod:`omniq_redis.multiplex`).

redis-py's ``Script`` objects, when queued on a pipeline, make the pipeline ask the server
``SCRIPT EXISTS`` before every ``execute()``: a second round trip for each enqueue, ack or
extend, which halved the one-at-a-time enqueue rate. Here the pipeline sends ``EVALSHA`` only;
when the server answers ``NOSCRIPT`` (it was restarted, or its script cache flushed), the
scripts are loaded and the whole pipeline is built and sent again. That is safe because every
script and command sent this way is idempotent for the same arguments (an enqueue skips a task
that exists; an ack or extend checks the lease token).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import redis

from omniq_redis.direct import DirectCalls
from omniq_redis.multiplex import MultiplexedCalls

__all__ = ["ScriptSet", "call_sync"]

Build = Callable[[Any], None]
"""Queues commands on the pipeline it is given (``ScriptSet.queue`` for scripts)."""


class ScriptSet:
    """Named Lua scripts, known by SHA1, sent with ``EVALSHA`` on pipelines."""

    def __init__(self, sources: dict[str, str]) -> None:
        self._sources = sources
        self._shas = {
            name: hashlib.sha1(src.encode(), usedforsecurity=False).hexdigest()
            for name, src in sources.items()
        }

    def sha(self, name: str) -> str:
        return self._shas[name]

    def source(self, name: str) -> str:
        return self._sources[name]

    def queue(self, pipe: Any, name: str, keys: list[str], args: list[Any]) -> None:
        """Queue script ``name`` on ``pipe``."""
        pipe.evalsha(self._shas[name], len(keys), *keys, *args)

    async def call(
        self, calls: MultiplexedCalls, name: str, keys: list[str], args: list[Any]
    ) -> Any:
        """Call script ``name`` alone (no pipeline); on ``NOSCRIPT`` load it and call again."""
        command = ("EVALSHA", self._shas[name], len(keys), *keys, *args)
        try:
            return await calls.call(*command)
        except redis.exceptions.NoScriptError:
            await calls.call("SCRIPT", "LOAD", self._sources[name])
            return await calls.call(*command)

    async def execute(self, calls: MultiplexedCalls, build: Build) -> list[Any]:
        """Build a pipeline with ``build`` and run it; on ``NOSCRIPT`` load and run again."""
        for attempt in range(2):
            pipe = _Recorder()
            build(pipe)
            replies = await calls.pipeline(pipe.commands)
            if attempt == 0 and _missing_script(replies):
                for source in self._sources.values():
                    await calls.call("SCRIPT", "LOAD", source)
                continue
            return _raise_first_error(replies)
        raise AssertionError("unreachable")  # pragma: no cover

    def execute_sync(self, client: redis.Redis, build: Build) -> list[Any]:
        """:meth:`execute` for the synchronous client."""
        for attempt in range(2):
            pipe = client.pipeline(transaction=False)
            build(pipe)
            replies: list[Any] = pipe.execute(raise_on_error=False)
            if attempt == 0 and _missing_script(replies):
                for source in self._sources.values():
                    client.script_load(source)
                continue
            return _raise_first_error(replies)
        raise AssertionError("unreachable")  # pragma: no cover


def call_sync(
    scripts: ScriptSet, direct: DirectCalls, name: str, keys: list[str], args: list[Any]
) -> Any:
    """Call script ``name`` alone, on ``direct``'s lean path; on ``NOSCRIPT`` load it and call
    again."""
    command = ("EVALSHA", scripts.sha(name), len(keys), *keys, *args)
    try:
        return direct.call(*command)
    except redis.exceptions.NoScriptError:
        direct.call("SCRIPT", "LOAD", scripts.source(name))
        return direct.call(*command)


class _Recorder:
    """What a build function queues, as commands for :meth:`MultiplexedCalls.pipeline`."""

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    def evalsha(self, *args: Any) -> None:
        self.commands.append(("EVALSHA", *args))

    def sadd(self, *args: Any) -> None:
        self.commands.append(("SADD", *args))


def _missing_script(replies: list[Any]) -> bool:
    return any(isinstance(reply, redis.exceptions.NoScriptError) for reply in replies)


def _raise_first_error(replies: list[Any]) -> list[Any]:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies
