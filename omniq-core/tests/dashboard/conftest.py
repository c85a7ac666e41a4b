"""A real dashboard for the tests: an app over a real store (SQLite in tmp_path, or a
redis-server started on a free port), served by uvicorn on a free 127.0.0.1 port on the test's
event loop, and Debian's chromium driven by Playwright for the browser tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import omniq
import pytest
import uvicorn
from omniq import AsyncOmniQ
from omniq.dashboard.app import create_app
from omniq.testing import server_unavailable
from omniq_redis.testing import RedisServer, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "assets" / "dashboard"


class Dashboard:
    """A served dashboard: its app (``oq``), base URL and an HTTP client."""

    def __init__(self, oq: AsyncOmniQ, url: str, client: httpx.AsyncClient) -> None:
        self.oq = oq
        self.url = url
        self.client = client

    async def csrf(self) -> str:
        return str((await self.client.get("/api/csrf")).json()["csrf"])


@asynccontextmanager
async def serving(oq: AsyncOmniQ, **options: Any) -> AsyncIterator[Dashboard]:
    """Serve ``oq``'s dashboard until the block ends (the app starts and closes with it)."""
    port = free_port()
    options.setdefault("metrics_poll", 0.1)
    app = create_app(oq, **options)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    serve = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serve.done():
                serve.result()
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield Dashboard(oq, url, client)
    finally:
        server.should_exit = True
        await serve


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        server_unavailable("redis-server is not on PATH (Debian package redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """Makes backends over one store per test: SQLite in tmp_path, or Redis under a fresh
    key prefix."""
    if request.param == "sqlite":
        path = str(tmp_path / "omniq.db")
        return lambda: omniq.load_backend("sqlite", database_path=path)
    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = f"t{uuid.uuid4().hex[:12]}"
    return lambda: omniq.load_backend("redis", url=server.url, key_prefix=prefix)


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Callable[[], Any]:
    path = str(tmp_path / "omniq.db")
    return lambda: omniq.load_backend("sqlite", database_path=path)


def chromium_installed() -> bool:
    return os.path.exists(CHROMIUM)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh headless chromium (its own user-data-dir); never a downloaded browser."""
    if not chromium_installed():
        server_unavailable(f"{CHROMIUM} is missing (Debian package chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        server_unavailable("the playwright package is not installed (dev group)")
    async with async_playwright() as driver:
        context = await driver.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        try:
            yield context
        finally:
            await context.close()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
