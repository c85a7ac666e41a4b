"""``omniq dashboard``: a web dashboard over any backend, a JSON API and Prometheus metrics.

Install the extra (``pip install 'omniq-core[dashboard]'``), then run ``omniq dashboard --app
myproject.tasks:oq`` and open http://127.0.0.1:8765. In code, :func:`create_app` makes the
ASGI app over an :class:`~omniq.AsyncOmniQ` (any ASGI server can serve it). See
``docs/dashboard.md`` for the pages, the API, the metrics and the security notes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omniq.dashboard._extra import INSTALL_LINE, require_extra

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from omniq.runtime.async_app import AsyncOmniQ

__all__ = ["INSTALL_LINE", "create_app", "require_extra"]


def create_app(oq: AsyncOmniQ, **options: Any) -> Starlette:
    """The dashboard's ASGI app over ``oq`` (see :func:`omniq.dashboard.app.create_app`);
    raises :class:`~omniq.errors.ConfigurationError` naming the install line if the extra is
    missing."""
    require_extra()
    from omniq.dashboard.app import create_app as make

    return make(oq, **options)
