"""The review web page (`qa serve`): flagged list, conversation pages with audio, verdicts, dashboard and rule
precision. The web package (:mod:`qa.review.web`) is the only one that imports FastAPI, Starlette, Jinja2 and
uvicorn.

:func:`create_app` builds the application: the shared :class:`~qa.review.web.site.Site`, the error handlers and
the route groups (:mod:`~qa.review.web.signin`, :mod:`~qa.review.web.pages`, :mod:`~qa.review.web.api`).

No database connection is kept between requests: every request reads through :mod:`qa.store.queries` or writes
through :meth:`qa.store.Store.add_review`, which open the file and close it again, so the nightly flow in another
process can write in between.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.config import configured_timezone
from qa.review import labels
from qa.review.web import api, pages, search_pages, signin, trends_pages
from qa.review.web.guards import LOOPBACK_NAMES, Guard, bound_host_names
from qa.review.web.params import PAGE_SIZES, BadRequest
from qa.review.web.site import NotSignedIn, Site
from qa.store import Store, StoreError

log = logging.getLogger(__name__)

AUTH_MODES = ("accounts", "proxy", "none")


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%d.%m.%Y %H:%M") if value else ""


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}" if whole >= 3600 else \
        f"{whole // 60}:{whole % 60:02d}"


def _field_value(value: Any) -> str:
    """A metadata value as shown: text as it is, anything else as JSON (Cyrillic kept)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/audio/"))


def create_app(store: Store, audio_root: str | Path | None = None, auth_mode: str = "accounts",
               proxy_header: str | None = None, secure_cookies: bool = False, redactor: Any = None,
               timezone: str | None = None, rules_dir: str | Path | None = None,
               allowed_hosts: Sequence[str] = LOOPBACK_NAMES) -> FastAPI:
    """The web application over one store; relative call paths resolve against ``audio_root``; dates
    are read and shown in ``timezone`` (default: the configured one, Europe/Moscow); rule and step titles come
    from ``rules_dir`` (default: the packaged rules).

    ``auth_mode``: ``accounts`` (sign-in form, sessions in cookies), ``proxy`` (trust the user name an
    authenticating reverse proxy puts in ``proxy_header``; the user must still have an account here) or ``none``
    (no sign-in: everyone is a supervisor without the PII permission; loopback only, see ``qa serve --no-auth``).

    Every mode answers only requests whose ``Host`` is one of ``allowed_hosts`` (default: the loopback names;
    ``*.domain`` takes its subdomains), and every response carries the security headers
    (:mod:`qa.review.web.guards`).
    """
    if auth_mode not in AUTH_MODES:
        raise ValueError(f"auth_mode: one of {', '.join(AUTH_MODES)}, not {auth_mode!r}")
    if auth_mode == "proxy" and not proxy_header:
        raise ValueError("auth_mode proxy needs proxy_header")
    root = Path(audio_root) if audio_root is not None else Path.cwd()
    zone_name = configured_timezone(timezone)
    zone = ZoneInfo(zone_name)
    secret = secrets.token_bytes(32)
    app = FastAPI(title="ru-contact-qa review", docs_url=None, redoc_url=None, openapi_url=None)
    env = Environment(loader=PackageLoader("qa.review.web", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True, finalize=lambda value: "" if value is None else value)  # never «None»
    from qa.config import default_rules_dir

    titles = labels.load_titles(rules_dir if rules_dir is not None else default_rules_dir())
    env.filters.update(when=lambda value: _when(value, zone), clock=_clock, metric=labels.metric,
                       category=labels.category, severity_name=labels.severity, verdict_name=labels.verdict,
                       speaker_name=labels.speaker, channel_name=labels.channel,
                       recording_channel=labels.channel_name, redecode_reason=labels.redecode_reason, rule=titles.rule,
                       phrase=lambda text: labels.phrase(text, titles), quote=lambda text: labels.quote(text, titles),
                       stage=lambda key: labels.table()["stages"].get(key, key), field_value=_field_value)
    env.globals.update(page_sizes=PAGE_SIZES, auth_mode=auth_mode, rule_title=titles.rule,
                       category_name=labels.category)
    templates = Jinja2Templates(env=env)
    app.mount("/static", StaticFiles(packages=[("qa.review.web", "static")]), name="static")
    site = Site(store=store, auth_mode=auth_mode, proxy_header=proxy_header, secure_cookies=secure_cookies,
                root=root, zone_name=zone_name, rules_dir=rules_dir, titles=titles, templates=templates,
                secret=secret, redactor=redactor)

    def problem(request: Request, status: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        return site.page(request, "error.html", status, status=status, message=message)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "Войдите в систему"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return problem(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "Такой страницы нет"
        elif exc.status_code == 405:
            message = "Этот метод здесь не поддерживается"
        return problem(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return problem(request, 422, "; ".join(str(e.get("msg")) for e in exc.errors()))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        log.warning("store error on %s: %s", request.url.path, exc)
        response = problem(request, 503, labels.store_problem(str(exc)))
        response.headers["Retry-After"] = "30"
        return response

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        return problem(request, 500, "Внутренняя ошибка сервера; подробности в журнале qa serve")

    app.include_router(signin.router(site))
    app.include_router(pages.router(site))
    app.include_router(api.router(site))
    app.include_router(search_pages.router(site))
    app.include_router(trends_pages.router(site))
    # The guard wraps the whole stack, Starlette's own 500 page included (add_middleware would sit inside it).
    guard_hosts = tuple(allowed_hosts)
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: Guard(build_stack(), guard_hosts)  # type: ignore[method-assign]
    return app


def serve(store: Store, host: str = "127.0.0.1", port: int = 8765, audio_root: str | Path | None = None,
          auth_mode: str = "accounts", proxy_header: str | None = None, secure_cookies: bool = False,
          rules_dir: str | Path | None = None, allowed_hosts: Sequence[str] = ()) -> None:
    """Serve the review page until interrupted; requests must name ``host`` (its loopback or machine names for
    loopback and wildcard addresses) or one of ``allowed_hosts`` in their ``Host`` header."""
    import uvicorn

    hosts = [*bound_host_names(host), *allowed_hosts]
    uvicorn.run(create_app(store, audio_root, auth_mode, proxy_header, secure_cookies, rules_dir=rules_dir,
                           allowed_hosts=hosts),
                host=host, port=port, log_level="warning")
