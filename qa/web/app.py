"""The review web page (`qa serve`): flagged list, conversation pages with audio, verdicts, dashboard and rule
precision. The only module that imports FastAPI, Starlette, Jinja2 and uvicorn.

No database connection is kept between requests: every request reads through :mod:`qa.queries` or writes
through :func:`qa.store.add_review`, which open the file and close it again, so the nightly flow in another
process can write in between.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa import auth, labels, queries
from qa.audio_paths import audio_problem, resolve_audio
from qa.auth import User
from qa.config import configured_timezone
from qa.errors import QAInputError
from qa.inputs import AUDIO_SUFFIXES
from qa.queries import Filters
from qa.store import VERDICTS, Review, StoreError, add_review
from qa.web import charts
from qa.web.transcript import dialogue

log = logging.getLogger(__name__)

PAGE_SIZES = (10, 25, 50, 100)
CHANNELS = ("call", "chat")
# Formats Chromium plays from the stored file as is (with Range requests, so seeking works).
PLAYABLE = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
            ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".webm": "audio/webm"}


SESSION_COOKIE = "qa_session"
LOGIN_CSRF_COOKIE = "qa_login_csrf"
AUTH_MODES = ("accounts", "proxy", "none")


class BadRequest(ValueError):
    """A query parameter the page cannot use (answered 400 with the message)."""


class NotSignedIn(Exception):
    """A request without a live session: HTML pages go to the login form, JSON gets 401."""


@dataclass(frozen=True)
class ListQuery:
    """The list page's request: filters, sort, page."""

    filters: Filters
    sort: str = "priority"
    descending: bool = False
    page: int = 1
    size: int = 25


def _text(params: Mapping[str, str], key: str) -> str | None:
    value = (params.get(key) or "").strip()
    return value or None


def _day(params: Mapping[str, str], key: str, timezone: str | None) -> datetime | None:
    """A ``since``/``until`` bound read as the CLI reads it (:func:`qa.queries.day_bound`): an ISO date or
    date-time in the configured time zone; ``until`` is inclusive."""
    value = _text(params, key)
    if value is None:
        return None
    try:
        return queries.day_bound(value, end=key == "until", timezone=timezone)
    except ValueError:
        raise BadRequest(f"{key}: дата в виде ГГГГ-ММ-ДД, а не {value!r}") from None


def _number(params: Mapping[str, str], key: str, low: float, high: float) -> float | None:
    value = _text(params, key)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"{key}: нужно число, а не {value!r}") from None
    if not (low <= number <= high) or math.isnan(number):
        raise BadRequest(f"{key}: от {low:g} до {high:g}, а не {value!r}")
    return number


def _int(params: Mapping[str, str], key: str, default: int) -> int:
    value = _text(params, key)
    if value is None:
        return default
    if not value.isdigit():
        raise BadRequest(f"{key}: нужно целое положительное число, а не {value!r}")
    return int(value)


def parse_filters(params: Mapping[str, str], flagged_only: bool = True, timezone: str | None = None) -> Filters:
    """Filters from query parameters (empty ones ignored; ``until`` is inclusive; days in ``timezone``, by default
    the configured one, as in the CLI)."""
    since, until = _day(params, "since", timezone), _day(params, "until", timezone)
    channel = _text(params, "channel")
    if channel not in (None, *CHANNELS):
        raise BadRequest(f"channel: call (звонок) или chat (чат), а не {channel!r}")
    show_all = _text(params, "all")
    if show_all not in (None, "0", "1"):
        raise BadRequest(f"all: 0 или 1, а не {show_all!r}")
    return Filters(
        since=since, until=until,
        team=_text(params, "team"), operator=_text(params, "operator"), rule=_text(params, "rule"),
        category=_text(params, "category"), channel=channel,
        min_score=_number(params, "min_score", 0, 100), max_score=_number(params, "max_score", 0, 100),
        flagged=None if show_all == "1" or not flagged_only else True,
    )


def parse_list_query(params: Mapping[str, str], timezone: str | None = None) -> ListQuery:
    """The list page's filters, sort column and direction, page and page size."""
    sort = _text(params, "sort") or "priority"
    if sort not in queries.SORT_COLUMNS:
        raise BadRequest(f"sort: одно из {', '.join(queries.SORT_COLUMNS)}, а не {sort!r}")
    order = _text(params, "order") or "asc"
    if order not in ("asc", "desc"):
        raise BadRequest(f"order: asc или desc, а не {order!r}")
    size = _int(params, "size", 25)
    if size not in PAGE_SIZES:
        raise BadRequest(f"size: одно из {', '.join(map(str, PAGE_SIZES))}, а не {size}")
    page = _int(params, "page", 1)
    if page < 1:
        raise BadRequest("page: 1 или больше")
    return ListQuery(parse_filters(params, timezone=timezone), sort, order == "desc", page, size)


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%d.%m.%Y %H:%M") if value else ""


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}" if whole >= 3600 else \
        f"{whole // 60}:{whole % 60:02d}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/audio/"))


def _same_origin(request: Request) -> bool:
    """False for a request a browser marks as coming from another site."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
        return False
    return request.headers.get("sec-fetch-site") not in ("cross-site", "same-site")


@lru_cache(maxsize=4)
def _decoded_wav(path: str, _mtime_ns: int, _size: int) -> bytes:
    """A file Chromium cannot play (e.g. headerless A-law), decoded and encoded as WAV (cached per version)."""
    from qa.audio import RawFormat, decode_audio, encode_audio
    from qa.inputs import read_sidecar

    source = Path(path)
    sidecar = source.with_suffix(".json")
    raw = read_sidecar(source, sidecar if sidecar.is_file() else None).raw_format
    audio = decode_audio(source, RawFormat(**raw) if raw else None)
    return encode_audio(audio.channels[:2], audio.sample_rate, "wav")


def _ranged(data: bytes, range_header: str | None, media_type: str) -> Response:
    """``data`` whole, or the single byte range asked for (206), so the player can seek."""
    size = len(data)
    headers = {"Accept-Ranges": "bytes"}
    if not range_header:
        return Response(data, media_type=media_type, headers=headers)
    unit, _, spec = range_header.partition("=")
    first, _, last = spec.split(",")[0].strip().partition("-")
    try:
        if unit.strip() != "bytes" or not (first or last):
            raise ValueError
        start, end = (size - int(last), size - 1) if not first else (int(first), int(last) if last else size - 1)
        start, end = max(start, 0), min(end, size - 1)
        if start > end:
            raise ValueError
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start:end + 1], status_code=206, media_type=media_type, headers=headers)


def _masked(redactor: Any, text: str | None) -> str | None:
    return redactor.redact(text).text if text else text


def mask_conversation(c: dict[str, Any], redactor: Any) -> dict[str, Any]:
    """The conversation with personal data replaced by placeholders in every text shown (word timings dropped:
    they hold the words themselves)."""
    c = dict(c)
    c["utterances"] = [{**u, "text": _masked(redactor, u.get("text")), "words": None} for u in c["utterances"]]
    c["findings"] = [{**f, "quote": _masked(redactor, f.get("quote")),
                      "details": {**(f.get("details") or {}),
                                  "matched": _masked(redactor, (f.get("details") or {}).get("matched"))}}
                     for f in c["findings"]]
    c["script"] = [{**s, "quote": _masked(redactor, s.get("quote"))} for s in c.get("script", [])]
    c["reasons"] = [_masked(redactor, r) for r in c.get("reasons", [])]
    c.pop("transcription", None)
    return c


def create_app(db_path: str | Path, audio_root: str | Path | None = None, auth_mode: str = "accounts",
               proxy_header: str | None = None, secure_cookies: bool = False, redactor: Any = None,
               timezone: str | None = None, rules_dir: str | Path | None = None) -> FastAPI:
    """The web application over one database file; relative call paths resolve against ``audio_root``; dates
    are read and shown in ``timezone`` (default: the configured one, Europe/Moscow); rule and step titles come
    from ``rules_dir`` (default: the packaged rules).

    ``auth_mode``: ``accounts`` (sign-in form, sessions in cookies), ``proxy`` (trust the user name an
    authenticating reverse proxy puts in ``proxy_header``; the user must still have an account here) or ``none``
    (no sign-in: everyone is a supervisor without the PII permission; loopback only, see ``qa serve --no-auth``).
    """
    if auth_mode not in AUTH_MODES:
        raise ValueError(f"auth_mode: one of {', '.join(AUTH_MODES)}, not {auth_mode!r}")
    if auth_mode == "proxy" and not proxy_header:
        raise ValueError("auth_mode proxy needs proxy_header")
    db = Path(db_path)
    root = Path(audio_root) if audio_root is not None else Path.cwd()
    zone_name = configured_timezone(timezone)
    zone = ZoneInfo(zone_name)
    secret = secrets.token_bytes(32)
    throttle = auth.ClientThrottle()
    app = FastAPI(title="ru-contact-qa review", docs_url=None, redoc_url=None, openapi_url=None)
    env = Environment(loader=PackageLoader("qa.web", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True, finalize=lambda value: "" if value is None else value)  # never «None»
    from qa.config import default_rules_dir

    titles = labels.load_titles(rules_dir if rules_dir is not None else default_rules_dir())
    env.filters.update(when=lambda value: _when(value, zone), clock=_clock, metric=labels.metric,
                       category=labels.category, severity_name=labels.severity, verdict_name=labels.verdict,
                       speaker_name=labels.speaker, channel_name=labels.channel, rule=titles.rule,
                       phrase=lambda text: labels.phrase(text, titles), quote=lambda text: labels.quote(text, titles),
                       stage=lambda key: labels.table()["stages"].get(key, key))
    env.globals.update(page_sizes=PAGE_SIZES, auth_mode=auth_mode, rule_title=titles.rule,
                       category_name=labels.category)
    templates = Jinja2Templates(env=env)
    app.mount("/static", StaticFiles(packages=[("qa.web", "static")]), name="static")
    state: dict[str, Any] = {"redactor": redactor}

    def get_redactor() -> Any:
        if state["redactor"] is None:
            from qa.redaction import Redactor

            state["redactor"] = Redactor()
        return state["redactor"]

    def derived_csrf(name: str) -> str:
        return hmac.new(secret, name.encode(), hashlib.sha256).hexdigest()

    def client_of(request: Request) -> str:
        return request.client.host if request.client else "-"

    def current(request: Request) -> tuple[User, str]:
        """The user of the request and the CSRF token their forms must send back."""
        if auth_mode == "none":
            return User("—", "supervisor"), derived_csrf("none")
        if auth_mode == "proxy":
            name = (request.headers.get(proxy_header or "") or "").strip()
            user = auth.get_user(db, name) if name else None
            if user is None:
                raise HTTPException(403, "Прокси не передал известного пользователя")
            return user, derived_csrf("user:" + name)
        found = auth.session(db, request.cookies.get(SESSION_COOKIE))
        if found is None:
            raise NotSignedIn
        return found.user, found.csrf_token

    def need(request: Request, allowed: bool) -> None:
        if not allowed:
            raise HTTPException(403, "Недостаточно прав для этой страницы")

    def check_csrf(request: Request, sent: str | None, expected: str) -> None:
        if not _same_origin(request):
            raise HTTPException(403, "Запрос с другого сайта отклонён")
        if not sent or not hmac.compare_digest(sent, expected):
            raise HTTPException(403, "Неверный CSRF-токен: обновите страницу и повторите")

    def scoped(user: User, filters: Filters) -> Filters:
        """Filters narrowed to the teams the user may see (403 for another team)."""
        if user.all_teams:
            return filters
        if filters.team is not None:
            if filters.team not in user.teams:
                raise HTTPException(403, "Эта команда вам недоступна")
            return filters
        from dataclasses import replace

        return replace(filters, team=user.teams[0])

    def scoped_options(user: User) -> dict[str, list[str]]:
        options = queries.filter_options(db)
        if not user.all_teams:
            options["teams"] = [t for t in options["teams"] if t in user.teams]
            cols, rows = queries.stats(db, "operator", Filters(flagged=None, team=user.teams[0]))
            at = cols.index("operator_id") if "operator_id" in cols else None
            options["operators"] = sorted({r[at] for r in rows if r[at]}) if at is not None else []
        return options

    def open_conversation(user: User, conversation_id: str) -> dict[str, Any]:
        c = queries.conversation(db, conversation_id)
        if c is None:
            raise HTTPException(404, f"Разговор {conversation_id!r} не найден")
        if not user.sees_team(c.get("team")):
            raise HTTPException(403, f"Разговор {conversation_id!r} другой команды вам недоступен")
        return c

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        if "user" not in context:
            try:
                context["user"], context["csrf_token"] = current(request)
            except (NotSignedIn, HTTPException, StoreError):  # an error page shows even when the store is down
                context["user"], context["csrf_token"] = None, ""
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def problem(request: Request, status: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        return page(request, "error.html", status, status=status, message=message)

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

    def links(params: Mapping[str, str]):
        def link(**changes: Any) -> str:
            merged = {**params, **{k: str(v) for k, v in changes.items() if v is not None}}
            return "?" + urlencode({k: v for k, v in merged.items() if v not in ("", None)})
        return link

    def safe_next(target: str | None) -> str:
        return target if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
            else "/"

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        if auth_mode != "accounts":
            return RedirectResponse("/", status_code=303)
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = page(request, "login.html", user=None, csrf_token=token,
                        next=safe_next(request.query_params.get("next")), error=None)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies)
        return response

    @app.post("/login")
    async def login_submit(request: Request) -> Response:
        if auth_mode != "accounts":
            raise HTTPException(404, "Вход по паролю выключен")
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        check_csrf(request, form.get("csrf_token"), expected or secrets.token_urlsafe(8))
        client, target = client_of(request), safe_next(form.get("next"))

        def again(message: str, status: int) -> Response:
            return page(request, "login.html", status, user=None, csrf_token=expected, next=target, error=message)

        if throttle.blocked(client):
            return again("Слишком много неудачных попыток входа с этого адреса; попробуйте позже", 429)
        try:
            found = await run_in_threadpool(auth.login, db, form.get("username", "").strip(),
                                            form.get("password", ""), client)
        except auth.LockedOut:
            throttle.failed(client)
            return again("Учётная запись временно заблокирована после неудачных попыток входа", 429)
        if found is None:
            throttle.failed(client)
            return again("Неверное имя пользователя или пароль", 401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, found.token, httponly=True, samesite="strict", secure=secure_cookies,
                            max_age=int(auth.SESSION_LIFETIME.total_seconds()))
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        user, csrf = current(request)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        check_csrf(request, form.get("csrf_token") or request.headers.get("x-csrf-token"), csrf)
        if auth_mode == "accounts":
            await run_in_threadpool(auth.logout, db, request.cookies.get(SESSION_COOKIE, ""), user.username,
                                    client_of(request))
        response = RedirectResponse("/login" if auth_mode == "accounts" else "/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse)
    def conversation_list(request: Request) -> Response:
        user, _ = current(request)
        if user.role == "admin":
            return RedirectResponse("/users", status_code=303)
        need(request, user.sees_conversations)
        q = parse_list_query(request.query_params, zone_name)
        filters = scoped(user, q.filters)
        result = queries.conversations(db, filters, q.sort, q.descending, q.size, (q.page - 1) * q.size)
        rows = result.dicts()
        redactor = get_redactor()
        for r in rows:
            r["top_quote"] = _masked(redactor, r.get("top_quote"))
        return page(request, "list.html", rows=rows, total=result.total, q=q,
                    pages=max(1, math.ceil(result.total / q.size)), params=dict(request.query_params),
                    link=links(dict(request.query_params)), options=scoped_options(user),
                    export_link="/export?" + urlencode({k: v for k, v in request.query_params.items()
                                                        if v and k not in ("sort", "order", "size", "page", "all")}))

    @app.get("/conversations/{conversation_id}", response_class=HTMLResponse)
    def conversation_page(request: Request, conversation_id: str) -> Response:
        user, _ = current(request)
        need(request, user.sees_conversations)
        c = open_conversation(user, conversation_id)
        clear = request.query_params.get("pii") == "1"
        if clear:
            need(request, user.may_show_pii)
            auth.audit(db, user.username, "pii_shown", conversation_id, client=client_of(request))
        else:
            c = mask_conversation(c, get_redactor())
        source = c.get("source_path") or ""
        has_audio = user.hears_audio and c["channel"] == "call" and (not source or
                                                                    Path(source).suffix.lower() in AUDIO_SUFFIXES)
        audio_missing = audio_problem(source, root) if has_audio else None
        history = queries.reviews(db, conversation_id)
        return page(request, "conversation.html", c=c, turns=dialogue(c["utterances"], c["findings"]),
                    findings_by_key={f["finding_key"]: f for f in c["findings"]}, has_audio=has_audio,
                    audio_missing=audio_missing, source=source, history=history, clear=clear)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.sees_stats)
        filters = scoped(user, parse_filters(request.query_params, flagged_only=False, timezone=zone_name))
        _, day_rows = queries.daily_trend(db, filters)
        cols, operator_rows = queries.stats(db, "operator", filters)
        _, hits = queries.rule_hits(db, filters, limit=10)
        days = [str(r[0]) for r in day_rows]
        return page(request, "dashboard.html", params=dict(request.query_params), options=scoped_options(user),
                    histogram=charts.histogram(queries.score_histogram(db, filters)),
                    top_rules=charts.bars([(titles.rule(r[0]), r[2]) for r in hits]),
                    trend=charts.trend(days, [r[6] for r in day_rows], [r[2] for r in day_rows]),
                    operators=[dict(zip(cols, r, strict=True)) for r in operator_rows])

    @app.get("/rules", response_class=HTMLResponse)
    def rules_page(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.all_teams and user.sees_stats)  # precision counts every team's findings
        cols, rows = queries.rule_precision(db)
        return page(request, "rules.html", rules=[dict(zip(cols, r, strict=True)) for r in rows])

    @app.get("/failures", response_class=HTMLResponse)
    def failures_page(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.sees_failures)
        everything = request.query_params.get("all") == "1"
        return page(request, "failures.html", failures=queries.failures(db, include_resolved=everything),
                    everything=everything)

    @app.get("/users", response_class=HTMLResponse)
    def users_page(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.sees_users)
        return page(request, "users.html", accounts=auth.list_users(db))

    @app.get("/audio/{conversation_id}")
    def audio(request: Request, conversation_id: str) -> Response:
        user, _ = current(request)
        need(request, user.hears_audio)
        source = queries.conversation_source(db, conversation_id)
        if source is None:
            raise HTTPException(404, f"Разговор {conversation_id!r} не найден")
        c = queries.conversation(db, conversation_id)
        if c is None or not user.sees_team(c.get("team")):
            raise HTTPException(403, f"Разговор {conversation_id!r} другой команды вам недоступен")
        channel, stored = source
        if channel != "call" or (stored and Path(stored).suffix.lower() not in AUDIO_SUFFIXES):
            raise HTTPException(404, f"У разговора {conversation_id!r} нет записи (чат или импортированная "
                                     "расшифровка)")
        problem_text = audio_problem(stored, root)
        if problem_text:
            raise HTTPException(404, f"Запись разговора {conversation_id!r} недоступна: {problem_text}")
        path = resolve_audio(stored or "", root)
        media_type = PLAYABLE.get(path.suffix.lower())
        if media_type:
            return FileResponse(path, media_type=media_type)
        stat = path.stat()
        try:
            data = _decoded_wav(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        except (QAInputError, TypeError, ValueError) as exc:  # undecodable audio, bad sidecar raw_format
            raise HTTPException(422, f"Запись разговора {conversation_id!r} не удалось декодировать: {exc}") from exc
        return _ranged(data, request.headers.get("range"), "audio/wav")

    @app.get("/export")
    def export_page(request: Request) -> Response:
        """Coaching examples of the filtered findings as one self-contained HTML page (a download): personal data
        always redacted, clips beeped; a team lead gets their teams' only. Audited."""
        import tempfile
        from dataclasses import replace

        from qa.export import ExportOptions, export_examples

        user, _ = current(request)
        need(request, user.sees_conversations)
        params = request.query_params
        filters = scoped(user, parse_filters(params, flagged_only=False, timezone=zone_name))
        verdict = _text(params, "verdict")
        if verdict not in (None, *VERDICTS, "unreviewed", "all"):
            raise BadRequest(f"verdict: одно из {', '.join(VERDICTS)}, unreviewed, all, а не {verdict!r}")
        good = _text(params, "good") == "1"
        limit = _int(params, "limit", 20)
        if not 1 <= limit <= 100:
            raise BadRequest("limit: от 1 до 100")
        with tempfile.TemporaryDirectory(prefix="qa-export-") as folder:
            options = ExportOptions(out_dir=Path(folder), fmt="html", audio_root=root, limit=limit, good=good,
                                    rules_dir=rules_dir, timezone=zone_name)
            result = export_examples(db, replace(filters, verdict=verdict), options, get_redactor())
            body = result.out_file.read_text(encoding="utf-8")
        shown = {k: v for k, v in params.items() if v}
        auth.audit(db, user.username, "export", None,
                   f"html, {len(result.examples)} examples, {len(result.missing_clips)} without clip: {shown}",
                   client_of(request))
        return HTMLResponse(body, headers={"Content-Disposition": 'attachment; filename="qa-examples.html"'})

    @app.get("/api/conversations")
    def api_conversations(request: Request) -> JSONResponse:
        user, _ = current(request)
        need(request, user.sees_conversations)
        q = parse_list_query(request.query_params, zone_name)
        result = queries.conversations(db, scoped(user, q.filters), q.sort, q.descending, q.size,
                                       (q.page - 1) * q.size)
        rows = result.dicts()
        redactor = get_redactor()
        for r in rows:
            r["top_quote"] = _masked(redactor, r.get("top_quote"))
        return JSONResponse({"total": result.total, "page": q.page, "size": q.size,
                             "conversations": _jsonable(rows)})

    @app.get("/api/conversations/{conversation_id}")
    def api_conversation(request: Request, conversation_id: str) -> JSONResponse:
        user, _ = current(request)
        need(request, user.sees_conversations)
        c = open_conversation(user, conversation_id)
        if request.query_params.get("pii") == "1":
            need(request, user.may_show_pii)
            auth.audit(db, user.username, "pii_shown", conversation_id, detail="api", client=client_of(request))
        else:
            c = mask_conversation(c, get_redactor())
        return JSONResponse(_jsonable(c))

    @app.post("/api/reviews", status_code=201)
    async def post_review(request: Request) -> JSONResponse:
        user, csrf = current(request)
        check_csrf(request, request.headers.get("x-csrf-token"), csrf)
        need(request, user.may_review)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise HTTPException(415, "Вердикт отправляется как application/json")
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HTTPException(400, "Тело запроса — не JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "Тело запроса должно быть JSON-объектом")
        keys = ("conversation_id", "verdict") if auth_mode != "none" else ("conversation_id", "verdict", "reviewer")
        for key in keys:
            if not isinstance(body.get(key), str):
                raise HTTPException(400, f"{key}: обязательное поле (строка)")
        for key in ("finding_key", "comment"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise HTTPException(400, f"{key}: строка или null")
        c = await run_in_threadpool(queries.conversation, db, body["conversation_id"])
        if c is not None and not user.sees_team(c.get("team")):
            raise HTTPException(403, "Разговор другой команды вам недоступен")
        reviewer = body["reviewer"] if auth_mode == "none" else user.username
        review = Review(conversation_id=body["conversation_id"], verdict=body["verdict"],
                        reviewer=reviewer, finding_key=body.get("finding_key") or None,
                        comment=body.get("comment"))
        try:
            review_id = await run_in_threadpool(add_review, db, review)
        except ValueError as exc:  # the store's checks (verdict, reviewer), worded for the page
            if review.verdict not in VERDICTS:
                raise HTTPException(400, f"verdict: одно из {', '.join(VERDICTS)}, а не {review.verdict!r}") from exc
            raise HTTPException(400, f"Вердикт не записан: {exc}") from exc
        except LookupError as exc:
            what = f"находка {review.finding_key!r}" if review.finding_key else "разговор"
            raise HTTPException(404, f"{review.conversation_id}: {what} не найден(а)") from exc
        await run_in_threadpool(auth.audit, db, user.username, "verdict", review.conversation_id,
                                f"{review.finding_key or 'весь разговор'}: {review.verdict}", client_of(request))
        return JSONResponse({"review_id": review_id, "conversation_id": review.conversation_id,
                             "finding_key": review.finding_key, "verdict": review.verdict,
                             "comment": (review.comment or "").strip() or None,
                             "reviewer": review.reviewer.strip()}, status_code=201)

    return app


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8765, audio_root: str | Path | None = None,
          auth_mode: str = "accounts", proxy_header: str | None = None, secure_cookies: bool = False,
          rules_dir: str | Path | None = None) -> None:
    """Serve the review page until interrupted."""
    import uvicorn

    uvicorn.run(create_app(db_path, audio_root, auth_mode, proxy_header, secure_cookies, rules_dir=rules_dir),
                host=host, port=port, log_level="warning")
