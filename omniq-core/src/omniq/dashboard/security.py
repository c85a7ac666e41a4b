"""Who may use the dashboard, and which requests may change state.

* **Binding.** The dashboard listens on 127.0.0.1 by default. Any other address needs a token
  (``--token`` or ``OMNIQ_DASHBOARD_TOKEN``): :func:`check_binding` refuses to start without one.
* **Token.** With a token set, every page, API call and ``/metrics`` needs it, as
  ``Authorization: Bearer TOKEN`` (scripts, Prometheus) or as the session cookie the login page
  sets (browsers). The cookie holds an HMAC of the token, never the token.
* **CSRF.** Every POST made with cookies (a browser's) must carry the per-browser CSRF value
  (double-submit: a ``SameSite=Strict`` cookie and the form's ``csrf`` field or an
  ``X-CSRF-Token`` header); a request authenticated by its ``Authorization`` header carries no
  ambient credential and needs none.
* **DNS rebinding.** Bound to a loopback address, requests whose ``Host`` is not a loopback
  name are refused, so a web page cannot reach the dashboard through a name it controls.
* Headers: a strict Content-Security-Policy (no inline script), no framing, no referrer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp

from omniq.errors import ConfigurationError

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "TOKEN_ENV",
    "Guard",
    "check_binding",
    "is_loopback",
    "session_value",
    "token_matches",
]

TOKEN_ENV = "OMNIQ_DASHBOARD_TOKEN"  # noqa: S105 (the variable's name, not a secret)
SESSION_COOKIE = "omniq_session"
CSRF_COOKIE = "omniq_csrf"
CSRF_HEADER = "x-csrf-token"
_OPEN_PATHS = ("/login", "/static/")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise ConfigurationError(
            f"omniq dashboard on {host!r} would be open to the network without a token: give "
            f"--token TOKEN or set {TOKEN_ENV} (or bind --host 127.0.0.1)"
        )
    if token is not None and len(token) < 16:
        raise ConfigurationError(
            "The dashboard token is too short to be secret: use at least 16 characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )


def session_value(token: str) -> str:
    """What the session cookie holds for ``token`` (an HMAC: the cookie never holds it)."""
    return hmac.new(token.encode(), b"omniq-dashboard-session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str) -> bool:
    """Whether ``given`` is ``token`` (a constant-time comparison)."""
    return hmac.compare_digest(given.encode(), token.encode())


def _host_name(header: str) -> str:
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard(BaseHTTPMiddleware):
    """Authentication, CSRF, the Host check and the security headers (see the module docs)."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool) -> None:
        super().__init__(app)
        self.token = token
        self.loopback_only = loopback_only
        self._session = session_value(token) if token else None

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        host = _host_name(request.headers.get("host", ""))
        if self.loopback_only and host not in _LOOPBACK_NAMES:
            return JSONResponse({"error": "unexpected Host header"}, status_code=400)
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        request.state.csrf = csrf
        by_header = self._bearer_ok(request)
        request.state.by_header = by_header
        if not self._authenticated(request, by_header) and not request.url.path.startswith(
            _OPEN_PATHS
        ):
            response = self._refused(request)
        elif request.method not in ("GET", "HEAD", "OPTIONS") and not by_header:
            given = request.headers.get(CSRF_HEADER) or await _form_csrf(request)
            cookie = request.cookies.get(CSRF_COOKIE)
            if not cookie or not given or not hmac.compare_digest(cookie, given):
                response = JSONResponse(
                    {"error": "missing or wrong CSRF token: reload the page and try again"},
                    status_code=403,
                )
            else:
                response = await call_next(request)
        else:
            response = await call_next(request)
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        if request.cookies.get(CSRF_COOKIE) != csrf:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/")
        return response

    def _bearer_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not self.token or not header.lower().startswith("bearer "):
            return False
        return token_matches(header[7:].strip(), self.token)

    def _authenticated(self, request: Request, by_header: bool) -> bool:
        if self._session is None or by_header:
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self._session.encode())

    @staticmethod
    def _refused(request: Request) -> Response:
        path = request.url.path
        if path.startswith("/api/") or path == "/metrics" or request.method != "GET":
            return JSONResponse(
                {"error": "a token is required: send Authorization: Bearer TOKEN"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return RedirectResponse(f"/login?next={path}", status_code=303)


async def _form_csrf(request: Request) -> str | None:
    """The ``csrf`` field of a urlencoded form body (the body stays readable downstream)."""
    from omniq.dashboard.forms import read_form

    form = await read_form(request)
    values = form.get("csrf")
    return values[0] if values else None
