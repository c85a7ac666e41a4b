"""Serving the dashboard with uvicorn (what ``omniq dashboard`` runs)."""

from __future__ import annotations

import os

from omniq.dashboard._extra import require_extra
from omniq.logging import get_logger
from omniq.runtime.async_app import AsyncOmniQ

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
log = get_logger(__name__)


async def serve(
    oq: AsyncOmniQ,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the dashboard over ``oq`` until SIGINT/SIGTERM. ``token`` defaults to
    ``OMNIQ_DASHBOARD_TOKEN``; binding beyond loopback without one is refused."""
    require_extra()
    import uvicorn

    from omniq.dashboard.app import create_app
    from omniq.dashboard.security import TOKEN_ENV, check_binding, is_loopback

    token = token or os.environ.get(TOKEN_ENV) or None
    check_binding(host, token)
    app = create_app(oq, token=token, loopback_only=is_loopback(host))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    server = uvicorn.Server(config)
    log.info("dashboard serving", url=f"http://{host}:{port}/", token_required=bool(token))
    await server.serve()
