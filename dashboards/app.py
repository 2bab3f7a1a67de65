"""The dashboard's web application: Starlette routes rendering Jinja2 templates (autoescaped)
over a read-only store, with the safety every page needs — a Content-Security-Policy that
allows only the app's own scripts and styles, a token when bound beyond loopback, and a
notice instead of an error while a run holds the database.

    create_app(db_path, token=None) -> Starlette

Pages are in dashboards/pages.py, their SQL in dashboards/queries.py."""

from __future__ import annotations

import hmac
import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from dashboards.db import Busy, StorageError, Store

HERE = Path(__file__).parent
TOKEN_COOKIE = "narrascope_token"
log = logging.getLogger(__name__)

#: every response: only this app's scripts, styles and images; no frames of others, no
#: plugins, no remote loads, forms only back to the app
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def web_url(url: str | None) -> str | None:
    """The URL if it may be a link (http or https with a host), else None: shown as text."""
    if not url:
        return None
    try:
        parts = urlsplit(str(url).strip())
    except ValueError:
        return None
    return str(url).strip() if parts.scheme in ("http", "https") and parts.netloc else None


def when(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def delay(value) -> str:
    if not isinstance(value, timedelta):
        return "" if value is None else str(value)
    seconds = int(value.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(("html",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # a missing value (an imported document without a source, a date) shows as nothing,
        # not as the word "None"
        finalize=lambda value: "" if value is None else value,
    )
    env.filters.update(web_url=web_url, when=when, delay=delay)
    return env


#: Host headers a dashboard without a token answers: a web page the analyst visits cannot
#: rebind its own name to 127.0.0.1 and read the dashboard (DNS rebinding)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def host_name(header: str) -> str:
    """The host of a Host header, without the port ("[::1]:8050" -> "::1")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard(BaseHTTPMiddleware):
    """Security headers on every response; without a token, requests must name a loopback
    host (421 otherwise); with one, 401 for a request without it (a ``?token=`` visit sets an
    HttpOnly cookie and redirects to the clean URL)."""

    def __init__(self, app, token: str | None, on_error):
        super().__init__(app)
        self.token = token
        self.on_error = on_error

    def _authorised(self, request: Request) -> bool:
        given = [request.cookies.get(TOKEN_COOKIE, "")]
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given.append(auth[7:].strip())
        return any(hmac.compare_digest(g.encode(), self.token.encode()) for g in given if g)

    async def dispatch(self, request: Request, call_next) -> Response:
        try:
            response = await self._dispatch(request, call_next)
        except Exception:  # anything a page did not expect: a page, never a traceback
            log.exception("dashboard request failed: %s", request.url.path)
            response = self.on_error()
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _dispatch(self, request: Request, call_next) -> Response:
        if self.token is None:
            if host_name(request.headers.get("host", "")) not in LOOPBACK_HOSTS:
                return PlainTextResponse(
                    "421: this dashboard answers 127.0.0.1 and localhost only\n", status_code=421
                )
            response = await call_next(request)
        elif (t := request.query_params.get("token")) is not None:
            if not hmac.compare_digest(t.encode(), self.token.encode()):
                response = PlainTextResponse("401: wrong token\n", status_code=401)
            else:
                clean = request.url.remove_query_params("token")
                # this app's path only: "//evil.example/x" must not become another site
                target = "/" + clean.path.lstrip("/\\") + (f"?{clean.query}" if clean.query else "")
                response = RedirectResponse(target, 303)
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
        elif self._authorised(request):
            response = await call_next(request)
        else:
            response = PlainTextResponse(
                "401: this dashboard needs its token (open the URL it printed)\n", status_code=401
            )
        return response


def notice(env: Environment, message: str, status: int, retry: bool) -> HTMLResponse:
    html = env.get_template("notice.html").render(message=message, retry=retry)
    headers = {"Retry-After": "2"} if retry else {}
    return HTMLResponse(html, status_code=status, headers=headers)


def create_app(
    db_path: str | Path, token: str | None = None, embed: dict | None = None
) -> Starlette:
    """The dashboard over ``db_path`` (opened read-only per request, never written);
    ``embed``: the [embed] settings semantic search uses (the configuration's by default)."""
    from dashboards import pages

    env = templates()
    store = Store(Path(db_path))

    async def busy(request: Request, exc: Exception) -> Response:
        return notice(env, "The database is being updated by a run: retry in a moment.", 503,
                      retry=True)  # fmt: skip

    async def storage(request: Request, exc: Exception) -> Response:
        return notice(env, str(exc), 503, retry=False)

    def failure() -> Response:
        return notice(env, "Something went wrong on this page; the log has the details.", 500,
                      retry=False)  # fmt: skip

    async def not_found(request: Request, exc: Exception) -> Response:
        detail = getattr(exc, "detail", None) or "Not found."
        return notice(env, str(detail), getattr(exc, "status_code", 404), retry=False)

    app = Starlette(
        routes=[
            *pages.routes(),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(Guard, token=token, on_error=failure)],
        exception_handlers={Busy: busy, StorageError: storage, 404: not_found, 400: not_found},
    )
    if embed is None:
        from pipeline.config import load_config

        embed = load_config(None)["embed"]
    app.state.store = store
    app.state.embed = embed
    app.state.embed_lock = threading.Lock()
    app.state.env = env
    return app


__all__ = ["create_app", "web_url"]
