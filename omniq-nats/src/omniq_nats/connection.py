"""The backend's connection: one nats-py client shared by the four storages, the streams and
buckets they create on first use, and the mapping of nats-py's errors to OmniQ's.

Every stream and bucket is created with :class:`Layout`'s settings (file storage unless
``storage="memory"``, ``replicas``); an existing one is used as it is. A server without
JetStream fails ``connect`` with an error naming the fix (``nats-server -js``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import NoReturn, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue
from omniq.errors import ConfigurationError, StorageError, StorageUnavailableError
from omniq.logging import get_logger
from omniq.plugins.specs import BackendContext

from omniq_nats.names import Names
from omniq_nats.options import NATSOptions
from omniq_nats.publisher import Publisher, Refused, Stored

__all__ = ["NATSConnection", "connection_for", "nats_errors"]

log = get_logger(__name__)
T = TypeVar("T")

UNAVAILABLE: tuple[type[BaseException], ...] = (
    nats.errors.NoServersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError,
    OSError,
)


class NATSConnection:
    """What the four NATS storages of one backend share."""

    def __init__(self, options: NATSOptions) -> None:
        self.options = options
        self.names = Names(options.prefix)
        self.where = options.describe()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._publisher: Publisher | None = None
        self._buckets: dict[str, KeyValue] = {}
        self._streams: set[str] = set()
        self._lock = asyncio.Lock()
        self.max_payload = 1024 * 1024
        self._closing = False

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise StorageError(f"NATS backend {self.where} is not connected (call connect())")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise StorageError(f"NATS backend {self.where} is not connected (call connect())")
        return self._js

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            raise StorageError(f"NATS backend {self.where} is not connected (call connect())")
        return self._publisher

    async def connect(self) -> None:
        async with self._lock:
            if self._nc is not None:
                return
            kwargs = self.options.connect_kwargs()
            try:
                async with asyncio.timeout(self.options.connect_timeout * 3):
                    nc = await nats.connect(
                        **kwargs,
                        error_cb=self._on_error,
                        disconnected_cb=self._on_disconnect,
                        reconnected_cb=self._on_reconnect,
                    )
            except nats.errors.Error as exc:
                if "authorization" in str(exc).lower():
                    raise StorageError(
                        f"NATS server {self.where} refused the credentials: check user/password, "
                        "token, nkeys_seed or credentials"
                    ) from None
                raise StorageUnavailableError(
                    f"NATS server {self.where} is unreachable ({type(exc).__name__}): start "
                    "nats-server -js there, or fix servers/url"
                ) from None
            except (OSError, TimeoutError) as exc:
                raise StorageUnavailableError(
                    f"NATS server {self.where} is unreachable ({type(exc).__name__}): start "
                    "nats-server -js there, or fix servers/url"
                ) from None
            js = nc.jetstream(timeout=self.options.request_timeout)
            try:
                await js.account_info()
            except (
                nats.errors.NoRespondersError,
                nats.js.errors.ServiceUnavailableError,
                nats.errors.TimeoutError,
                nats.js.errors.APIError,
            ) as exc:
                await nc.close()
                raise StorageUnavailableError(
                    f"NATS server {self.where} has no JetStream ({type(exc).__name__}): start it "
                    "with `nats-server -js -sd <store dir>` (or `jetstream: enabled` in its "
                    "config); OmniQ keeps tasks, results, events and schedules in JetStream"
                ) from None
            self.max_payload = int(nc.max_payload or self.max_payload)
            self._nc, self._js = nc, js
            self._publisher = Publisher(nc, self.options.request_timeout)
            self._closing = False

    async def _on_error(self, exc: Exception) -> None:
        log.debug("nats client error", server=self.where, error=repr(exc))

    async def _on_disconnect(self) -> None:
        if self._closing:
            return
        log.warning("disconnected from NATS; reconnecting", server=self.where)

    async def _on_reconnect(self) -> None:
        log.info("reconnected to NATS", server=self.where)

    async def close(self) -> None:
        self._closing = True
        nc, self._nc, self._js = self._nc, None, None
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.close()
        self._buckets.clear()
        self._streams.clear()
        if nc is not None:
            # A drain waits for every subscription's messages to be handled, then flushes what
            # was published; bounded (nats-py's own bound is 30 s, plus 10 s for the flush),
            # so that a worker's shutdown never waits on it past the request timeout twice.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.drain(), 2 * self.options.request_timeout)
            with contextlib.suppress(Exception):
                await nc.close()

    # -- layout --------------------------------------------------------------------------------

    @property
    def storage_type(self) -> StorageType:
        return StorageType.FILE if self.options.storage == "file" else StorageType.MEMORY

    async def stream(self, config: StreamConfig) -> None:
        """Create ``config.name`` unless it exists (an existing stream is used as it is)."""
        assert config.name is not None
        if config.name in self._streams:
            return
        config.storage = self.storage_type
        config.num_replicas = self.options.replicas
        await nats_errors(self.where, lambda: _add_stream(self.js, config))
        self._streams.add(config.name)

    async def bucket(
        self, name: str, *, ttl: float | None = None, history: int = 1, msg_ttl: bool = False
    ) -> KeyValue:
        """The KV bucket ``name``, created on first use; with ``msg_ttl``, its stream allows
        per-message TTLs (``Nats-TTL``: deletion markers that remove themselves)."""
        kv = self._buckets.get(name)
        if kv is not None:
            return kv
        js = self.js

        async def open_bucket() -> KeyValue:
            try:
                return await js.key_value(name)
            except nats.js.errors.BucketNotFoundError:
                pass
            config = KeyValueConfig(
                bucket=name,
                history=history,
                ttl=ttl,
                storage=self.storage_type,
                replicas=self.options.replicas,
                direct=True,
            )
            try:
                return await js.create_key_value(config)
            except nats.js.errors.BadRequestError:
                return await js.key_value(name)  # another process created it first

        kv = await nats_errors(self.where, open_bucket)
        if msg_ttl:
            await nats_errors(self.where, lambda: _allow_msg_ttl(js, f"KV_{name}"))
        self._buckets[name] = kv
        return kv

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes, dict[str, str] | None]]
    ) -> list[Stored | Refused]:
        """Publish to JetStream pipelined (see :class:`~omniq_nats.publisher.Publisher`): each
        outcome is what JetStream answered, stored or refused with its error code."""
        return await self.publisher.publish_many(messages)

    def work_stream(self) -> StreamConfig:
        n = self.names
        return StreamConfig(
            name=n.task_stream,
            subjects=[f"{n.task_subject_root}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            duplicate_window=self.options.duplicate_window,
            discard=DiscardPolicy.OLD,
            allow_direct=True,
        )

    def check_payload(self, size: int, what: str) -> None:
        """A record over the server's ``max_payload`` fails here, before it is sent."""
        if size > self.max_payload:
            from omniq.errors import PayloadTooLargeError

            raise PayloadTooLargeError(
                f"{what} is {size:,} bytes, above the NATS server's max_payload of "
                f"{self.max_payload:,} ({self.where}): send smaller arguments, or raise "
                "max_payload in nats-server's configuration (at most 64 MB)"
            )


async def _allow_msg_ttl(js: JetStreamContext, stream: str) -> None:
    info = await js.stream_info(stream)
    if not info.config.allow_msg_ttl:
        info.config.allow_msg_ttl = True
        await js.update_stream(info.config)


async def _add_stream(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        await js.stream_info(config.name)
        return
    except nats.js.errors.NotFoundError:
        pass
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError as exc:
        if "already in use" not in str(exc):
            raise ConfigurationError(
                f"NATS refused to create stream {config.name}: {exc.description}"
            ) from None


async def nats_errors(where: str, call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, with an unreachable server raised as StorageUnavailableError."""
    try:
        return await call()
    except UNAVAILABLE as exc:
        _unavailable(where, exc)


def _unavailable(where: str, exc: BaseException) -> NoReturn:
    raise StorageUnavailableError(
        f"NATS server {where} did not answer ({type(exc).__name__}: {exc}); nats-py keeps "
        "reconnecting, retry later"
    ) from exc


@contextlib.asynccontextmanager
async def unavailable_as_storage_error(where: str) -> AsyncIterator[None]:
    try:
        yield
    except UNAVAILABLE as exc:
        _unavailable(where, exc)


def connection_for(ctx: BackendContext) -> NATSConnection:
    options = ctx.options if isinstance(ctx.options, NATSOptions) else NATSOptions()

    async def close(connection: NATSConnection) -> None:
        await connection.close()

    shared: NATSConnection = ctx.shared("nats", lambda: NATSConnection(options), close)
    return shared
