"""The review web page (`qa serve`): flagged list, conversation pages with audio, verdicts, dashboard and rule
precision. The only module that imports FastAPI, Starlette, Jinja2 and uvicorn.

No database connection is kept between requests: every request reads through :mod:`qa.queries` or writes
through :func:`qa.store.add_review`, which open the file and close it again, so the nightly flow in another
process can write in between.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa import queries
from qa.errors import QAInputError
from qa.inputs import AUDIO_SUFFIXES
from qa.queries import Filters
from qa.store import Review, StoreError, add_review
from qa.web import charts
from qa.web.transcript import dialogue

MOSCOW = ZoneInfo("Europe/Moscow")
PAGE_SIZES = (10, 25, 50, 100)
CHANNELS = ("call", "chat")
# Formats Chromium plays from the stored file as is (with Range requests, so seeking works).
PLAYABLE = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
            ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".webm": "audio/webm"}


class BadRequest(ValueError):
    """A query parameter the page cannot use (answered 400 with the message)."""


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


def _day(params: Mapping[str, str], key: str) -> date | None:
    value = _text(params, key)
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise BadRequest(f"{key}: a date YYYY-MM-DD, not {value!r}") from None


def _number(params: Mapping[str, str], key: str, low: float, high: float) -> float | None:
    value = _text(params, key)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"{key}: a number, not {value!r}") from None
    if not (low <= number <= high) or math.isnan(number):
        raise BadRequest(f"{key}: between {low:g} and {high:g}, not {value!r}")
    return number


def _int(params: Mapping[str, str], key: str, default: int) -> int:
    value = _text(params, key)
    if value is None:
        return default
    if not value.isdigit():
        raise BadRequest(f"{key}: a positive whole number, not {value!r}")
    return int(value)


def parse_filters(params: Mapping[str, str], flagged_only: bool = True) -> Filters:
    """Filters from query parameters (empty ones ignored; ``until`` is inclusive; days in Moscow time)."""
    since, until = _day(params, "since"), _day(params, "until")
    channel = _text(params, "channel")
    if channel not in (None, *CHANNELS):
        raise BadRequest(f"channel: call or chat, not {channel!r}")
    show_all = _text(params, "all")
    if show_all not in (None, "0", "1"):
        raise BadRequest(f"all: 0 or 1, not {show_all!r}")
    return Filters(
        since=datetime.combine(since, datetime.min.time(), MOSCOW) if since else None,
        until=datetime.combine(until + timedelta(days=1), datetime.min.time(), MOSCOW) if until else None,
        team=_text(params, "team"), operator=_text(params, "operator"), rule=_text(params, "rule"),
        category=_text(params, "category"), channel=channel,
        min_score=_number(params, "min_score", 0, 100), max_score=_number(params, "max_score", 0, 100),
        flagged=None if show_all == "1" or not flagged_only else True,
    )


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """The list page's filters, sort column and direction, page and page size."""
    sort = _text(params, "sort") or "priority"
    if sort not in queries.SORT_COLUMNS:
        raise BadRequest(f"sort: one of {', '.join(queries.SORT_COLUMNS)}, not {sort!r}")
    order = _text(params, "order") or "asc"
    if order not in ("asc", "desc"):
        raise BadRequest(f"order: asc or desc, not {order!r}")
    size = _int(params, "size", 25)
    if size not in PAGE_SIZES:
        raise BadRequest(f"size: one of {', '.join(map(str, PAGE_SIZES))}, not {size}")
    page = _int(params, "page", 1)
    if page < 1:
        raise BadRequest("page: 1 or more")
    return ListQuery(parse_filters(params), sort, order == "desc", page, size)


def _when(value: datetime | None) -> str:
    return value.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M") if value else ""


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


def create_app(db_path: str | Path, audio_root: str | Path | None = None) -> FastAPI:
    """The web application over one database file; relative call paths resolve against ``audio_root``."""
    db = Path(db_path)
    root = Path(audio_root) if audio_root is not None else Path.cwd()
    app = FastAPI(title="ru-contact-qa review", docs_url=None, redoc_url=None, openapi_url=None)
    env = Environment(loader=PackageLoader("qa.web", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(when=_when, clock=_clock)
    env.globals.update(page_sizes=PAGE_SIZES)
    templates = Jinja2Templates(env=env)
    app.mount("/static", StaticFiles(packages=[("qa.web", "static")]), name="static")

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def problem(request: Request, status: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        return page(request, "error.html", status, status=status, message=message)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return problem(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return problem(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return problem(request, 422, "; ".join(str(e.get("msg")) for e in exc.errors()))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        return problem(request, 503, str(exc))

    def links(params: Mapping[str, str]):
        def link(**changes: Any) -> str:
            merged = {**params, **{k: str(v) for k, v in changes.items() if v is not None}}
            return "?" + urlencode({k: v for k, v in merged.items() if v not in ("", None)})
        return link

    @app.get("/", response_class=HTMLResponse)
    def conversation_list(request: Request) -> Response:
        q = parse_list_query(request.query_params)
        result = queries.conversations(db, q.filters, q.sort, q.descending, q.size, (q.page - 1) * q.size)
        return page(request, "list.html", rows=result.dicts(), total=result.total, q=q,
                    pages=max(1, math.ceil(result.total / q.size)), params=dict(request.query_params),
                    link=links(dict(request.query_params)), options=queries.filter_options(db))

    @app.get("/conversations/{conversation_id}", response_class=HTMLResponse)
    def conversation_page(request: Request, conversation_id: str) -> Response:
        c = queries.conversation(db, conversation_id)
        if c is None:
            raise HTTPException(404, f"conversation {conversation_id!r} not found")
        source = c.get("source_path") or ""
        has_audio = c["channel"] == "call" and Path(source).suffix.lower() in AUDIO_SUFFIXES
        return page(request, "conversation.html", c=c, turns=dialogue(c["utterances"], c["findings"]),
                    findings_by_key={f["finding_key"]: f for f in c["findings"]}, has_audio=has_audio,
                    history=queries.reviews(db, conversation_id))

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        filters = parse_filters(request.query_params, flagged_only=False)
        _, day_rows = queries.daily_trend(db, filters)
        cols, operator_rows = queries.stats(db, "operator", filters)
        _, hits = queries.rule_hits(db, filters, limit=10)
        days = [str(r[0]) for r in day_rows]
        return page(request, "dashboard.html", params=dict(request.query_params), options=queries.filter_options(db),
                    histogram=charts.histogram(queries.score_histogram(db, filters)),
                    top_rules=charts.bars([(r[0], r[2]) for r in hits]),
                    trend=charts.trend(days, [r[6] for r in day_rows], [r[2] for r in day_rows]),
                    operators=[dict(zip(cols, r, strict=True)) for r in operator_rows])

    @app.get("/rules", response_class=HTMLResponse)
    def rules_page(request: Request) -> Response:
        cols, rows = queries.rule_precision(db)
        return page(request, "rules.html", rules=[dict(zip(cols, r, strict=True)) for r in rows])

    @app.get("/audio/{conversation_id}")
    def audio(request: Request, conversation_id: str) -> Response:
        source = queries.conversation_source(db, conversation_id)
        if source is None:
            raise HTTPException(404, f"conversation {conversation_id!r} not found")
        channel, stored = source
        if channel != "call" or not stored or Path(stored).suffix.lower() not in AUDIO_SUFFIXES:
            raise HTTPException(404, f"conversation {conversation_id!r} has no recording (chat or imported "
                                     "transcript)")
        path = root / stored
        if not path.is_file():
            raise HTTPException(404, f"recording of {conversation_id!r} is gone: {stored} not found under {root}")
        media_type = PLAYABLE.get(path.suffix.lower())
        if media_type:
            return FileResponse(path, media_type=media_type)
        stat = path.stat()
        try:
            data = _decoded_wav(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        except (QAInputError, TypeError, ValueError) as exc:  # undecodable audio, bad sidecar raw_format
            raise HTTPException(422, f"recording of {conversation_id!r} could not be decoded: {exc}") from exc
        return _ranged(data, request.headers.get("range"), "audio/wav")

    @app.get("/api/conversations")
    def api_conversations(request: Request) -> JSONResponse:
        q = parse_list_query(request.query_params)
        result = queries.conversations(db, q.filters, q.sort, q.descending, q.size, (q.page - 1) * q.size)
        return JSONResponse({"total": result.total, "page": q.page, "size": q.size,
                             "conversations": _jsonable(result.dicts())})

    @app.get("/api/conversations/{conversation_id}")
    def api_conversation(conversation_id: str) -> JSONResponse:
        c = queries.conversation(db, conversation_id)
        if c is None:
            raise HTTPException(404, f"conversation {conversation_id!r} not found")
        return JSONResponse(_jsonable(c))

    @app.post("/api/reviews", status_code=201)
    async def post_review(request: Request) -> JSONResponse:
        if not _same_origin(request):
            raise HTTPException(403, "cross-site request refused")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise HTTPException(415, "send the verdict as application/json")
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HTTPException(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the body must be a JSON object")
        for key in ("conversation_id", "verdict", "reviewer"):
            if not isinstance(body.get(key), str):
                raise HTTPException(400, f"{key} is required (a string)")
        for key in ("finding_key", "comment"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise HTTPException(400, f"{key} must be a string or null")
        review = Review(conversation_id=body["conversation_id"], verdict=body["verdict"],
                        reviewer=body["reviewer"], finding_key=body.get("finding_key") or None,
                        comment=body.get("comment"))
        try:
            review_id = await run_in_threadpool(add_review, db, review)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        except LookupError as exc:
            raise HTTPException(404, str(exc).strip("'\"")) from exc
        return JSONResponse({"review_id": review_id, "conversation_id": review.conversation_id,
                             "finding_key": review.finding_key, "verdict": review.verdict,
                             "comment": (review.comment or "").strip() or None,
                             "reviewer": review.reviewer.strip()}, status_code=201)

    return app


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8765, audio_root: str | Path | None = None) -> None:
    """Serve the review page until interrupted."""
    import uvicorn

    uvicorn.run(create_app(db_path, audio_root), host=host, port=port, log_level="warning")
