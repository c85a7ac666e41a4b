"""The backend's connections: one async pool, one sync pool (for producers), one pub/sub
listener that wakes this process's waiters, and the checks made at connect.

Both clients are redis-py's with one change: a command or pipeline that fails because the server
cannot be reached or times out raises OmniQ's :class:`~omniq.errors.StorageUnavailableError`
after redis-py's own retries, and one whose credentials are refused a
:class:`~omniq.errors.StorageError`, naming the server with its password masked. Every storage
method, sync or async, gets that without wrapping each call (the producers' lean path,
:mod:`omniq_redis.direct`, sends a failed command again through the client, so it raises the
same); replies the server sends (a script's error, ``NOSCRIPT``) stay redis-py's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar, cast

import redis
import redis.asyncio as aioredis
from omniq.errors import StorageError, StorageUnavailableError
from omniq.logging import get_logger
from omniq.plugins.specs import BackendContext
from omniq.storage.wakeup import Waiters
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from omniq_redis.direct import DirectCalls
from omniq_redis.keys import Keys
from omniq_redis.multiplex import MultiplexedCalls
from omniq_redis.options import RedisOptions
from omniq_redis.packing import with_hiredis_packing
from omniq_redis.wakeups import WakeListener

__all__ = [
    "RedisConnection",
    "client_error",
    "connection_for",
    "storage_errors",
    "sync_storage_errors",
]

log = get_logger(__name__)
T = TypeVar("T")

_RETRIED = (redis.ConnectionError, redis.TimeoutError)


class RedisConnection:
    """What the four Redis storages of one backend share."""

    def __init__(self, options: RedisOptions) -> None:
        self.options = options
        self.keys = Keys(options.key_prefix)
        self.where = options.describe()
        self.waiters: Waiters[str] = Waiters()
        self.fresh_results: dict[str, str] = {}
        """Task id -> the result record a worker of this process just stored, for a waiter of
        this process (woken at once, it need not read the result back)."""
        self.completing: set[str] = set()
        """Ids of the tasks this process's workers are completing: their results' messages are
        not acted on here (the completing worker wakes this process's waiters itself)."""
        self._client: aioredis.Redis | None = None
        self._calls: MultiplexedCalls | None = None
        self._sync: redis.Redis | None = None
        self._direct: DirectCalls | None = None
        self._sync_lock = threading.Lock()
        self._listener: WakeListener | None = None
        self._wake_prefix = self.keys.wake_channel("")
        self._result_channel = self.keys.result_channel
        self._connect_lock = asyncio.Lock()
        self.warnings: list[str] = []
        """Server settings that can lose tasks, found at connect (``omniq status`` shows them)."""

    @property
    def client(self) -> Any:
        """The async client (``redis.asyncio.Redis``; typed ``Any`` because redis-py types every
        reply as a union of all reply shapes, which the storages narrow by the command)."""
        if self._client is None:
            raise StorageError(f"Redis backend {self.where} is not connected (call connect())")
        return self._client

    @property
    def calls(self) -> MultiplexedCalls:
        """Single async commands and small pipelines on one lean shared connection (the
        storages' hot paths: claims, completions, result reads, enqueues)."""
        if self._calls is None:
            raise StorageError(f"Redis backend {self.where} is not connected (call connect())")
        return self._calls

    @property
    def sync_client(self) -> Any:
        """The sync client, for producers' synchronous calls (``redis.Redis``)."""
        sync = self._sync
        if sync is None:
            with self._sync_lock:
                if self._sync is None:
                    kwargs = self.options.client_kwargs()
                    retry = redis.retry.Retry(ExponentialBackoff(cap=2, base=0.05), 5)
                    if "url" in kwargs:
                        url = kwargs.pop("url")
                        client = cast(_SyncRedis, _SyncRedis.from_url(url, retry=retry, **kwargs))
                    else:
                        client = _SyncRedis(retry=retry, **kwargs)
                    client.omniq_where = self.where
                    self._sync = client
                    self._direct = DirectCalls(client)
                sync = self._sync
        return sync

    @property
    def direct(self) -> DirectCalls:
        """Single synchronous commands without redis-py's per-command cost (producers)."""
        direct = self._direct
        if direct is None:
            _ = self.sync_client
            direct = self._direct
            assert direct is not None
        return direct

    async def connect(self) -> None:
        async with self._connect_lock:
            if self._client is not None:
                return
            kwargs = self.options.client_kwargs()
            retry = Retry(ExponentialBackoff(cap=2, base=0.05), 5)
            if "url" in kwargs:
                client = cast(
                    _AsyncRedis,
                    _AsyncRedis.from_url(
                        kwargs.pop("url"), retry=retry, retry_on_error=list(_RETRIED), **kwargs
                    ),
                )
            else:
                client = _AsyncRedis(retry=retry, retry_on_error=list(_RETRIED), **kwargs)
            client.omniq_where = self.where
            with_hiredis_packing(client.connection_pool)
            try:
                await storage_errors(self.where, client.ping)
                await self._check_server(client)
            except BaseException:
                await client.aclose()
                raise
            self._client = client
            self._calls = MultiplexedCalls(client, self.options.socket_timeout)
            listener = WakeListener(
                client,
                pattern=self.keys.wake_pattern,
                channel=self.keys.result_channel,
                on_message=self._on_message,
                on_resubscribed=self.waiters.wake_all,
                timeout=self.options.socket_timeout,
            )
            try:
                await storage_errors(self.where, listener.start)
            except BaseException:
                self._client = self._calls = None
                await client.aclose()
                raise
            self._listener = listener

    async def _check_server(self, client: aioredis.Redis) -> None:
        """Warn about settings under which Redis may silently drop tasks."""
        try:
            policy = (await client.config_get("maxmemory-policy")).get("maxmemory-policy", "")
            aof = (await client.config_get("appendonly")).get("appendonly", "no")
            save = (await client.config_get("save")).get("save", "")
        except redis.ResponseError:
            return  # CONFIG disabled (managed services): nothing to check
        if policy not in ("noeviction", ""):
            self.warnings.append(
                f"maxmemory-policy is {policy!r}: Redis may evict task keys under memory "
                "pressure; set it to 'noeviction'"
            )
        if aof != "yes" and not save:
            self.warnings.append(
                "persistence is off (appendonly no, no save points): a server restart loses "
                "every task; set 'appendonly yes'"
            )
        for warning in self.warnings:
            log.warning("redis server may lose tasks", server=self.where, problem=warning)

    def _on_message(self, channel: str, data: str) -> None:
        """A published wake-up: a queue's (``<prefix>wake:<queue>``) or stored results' (their
        task ids, space-separated)."""
        if channel == self._result_channel:
            completing = self.completing
            for task_id in data.split():
                if task_id not in completing:
                    self.waiters.wake(f"r:{task_id}")
        elif channel.startswith(self._wake_prefix):
            self.waiters.wake(f"q:{channel[len(self._wake_prefix) :]}")

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        calls, self._calls = self._calls, None
        if calls is not None:
            calls.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        direct, self._direct = self._direct, None
        if direct is not None:
            direct.close()
        sync, self._sync = self._sync, None
        if sync is not None:
            sync.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def storage_errors(where: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call``, turning redis-py's connection errors into clear OmniQ errors."""
    try:
        return await call()
    except (redis.RedisError, OSError) as exc:
        error = client_error(where, exc)
        if error is None:
            raise
        raise error from exc


def sync_storage_errors(where: str, call: Callable[[], T]) -> T:
    """:func:`storage_errors` for the synchronous client's calls."""
    try:
        return call()
    except (redis.RedisError, OSError) as exc:
        error = client_error(where, exc)
        if error is None:
            raise
        raise error from exc


_CLIENT_ERRORS = (redis.RedisError, OSError)
"""What redis-py raises that :func:`client_error` may translate."""


def client_error(where: str, exc: BaseException) -> StorageError | None:
    """OmniQ's error for redis-py's ``exc`` (the server at ``where`` cannot be reached, timed out
    or refused the credentials), or None for an error the server replied with."""
    if isinstance(exc, redis.AuthenticationError):
        return StorageError(
            f"Redis at {where} refused the credentials: check the username and password "
            "(or the ACL user's permissions)"
        )
    if isinstance(exc, redis.ResponseError):
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            return StorageError(
                f"Redis at {where} needs a password: give password= or put it in the URL"
            )
        return None
    if isinstance(exc, redis.TimeoutError):
        return StorageUnavailableError(
            f"Redis at {where} did not answer within socket_timeout: {_reason(exc)}. Check the "
            "server's load and the network, or raise the backend's socket_timeout option"
        )
    if isinstance(exc, redis.ConnectionError | OSError):
        return StorageUnavailableError(
            f"Cannot reach Redis at {where}: {_reason(exc)}. Check that redis-server runs there "
            "and that host and port are right (a port that does not speak Redis fails this way)"
        )
    return None


def _reason(exc: BaseException) -> str:
    from omniq._redact import mask_secrets

    return mask_secrets(str(exc)).rstrip(". ") or type(exc).__name__


# -- redis-py's clients, raising OmniQ's errors --------------------------------------------------


class _SyncRedis(redis.Redis):
    omniq_where = "Redis"

    def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except _CLIENT_ERRORS as exc:
            _reraise(self.omniq_where, exc)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = _SyncPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.omniq_where = self.omniq_where
        return pipe


class _SyncPipeline(redis.client.Pipeline):
    omniq_where = "Redis"

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except _CLIENT_ERRORS as exc:
            _reraise(self.omniq_where, exc)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        try:
            return super().execute(raise_on_error)
        except _CLIENT_ERRORS as exc:
            _reraise(self.omniq_where, exc)


class _AsyncRedis(aioredis.Redis):
    omniq_where = "Redis"

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except _CLIENT_ERRORS as exc:
            _reraise(self.omniq_where, exc)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Any:
        pipe = _AsyncPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.omniq_where = self.omniq_where
        return pipe


class _AsyncPipeline(aioredis.client.Pipeline):
    omniq_where = "Redis"

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except _CLIENT_ERRORS as exc:
            _reraise(self.omniq_where, exc)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        try:
            return await super().execute(raise_on_error)
        except _CLIENT_ERRORS as exc:
            _reraise(self.omniq_where, exc)


def _reraise(where: str, exc: BaseException) -> NoReturn:
    error = client_error(where, exc)
    if error is None:
        raise exc
    raise error from exc


def connection_for(ctx: BackendContext) -> RedisConnection:
    options = ctx.options if isinstance(ctx.options, RedisOptions) else RedisOptions()

    async def close(connection: RedisConnection) -> None:
        await connection.close()

    shared: RedisConnection = ctx.shared("redis", lambda: RedisConnection(options), close)
    return shared
