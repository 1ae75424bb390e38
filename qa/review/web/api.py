"""The review's JSON API: the conversation list, one conversation, and posting a verdict. Its errors are answered
as JSON, not as an error page."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from qa.review import auth
from qa.review.web.masking import mask_conversation, mask_row
from qa.review.web.params import parse_list_query
from qa.review.web.site import Site
from qa.store import VERDICTS, Review, queries


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def router(site: Site) -> APIRouter:
    """The ``/api/…`` routes of ``site``."""
    routes = APIRouter()
    store, zone_name, auth_mode = site.store, site.zone_name, site.auth_mode
    current, need, check_csrf, scoped = site.current, site.need, site.check_csrf, site.scoped
    open_conversation, get_redactor, client_of = site.open_conversation, site.get_redactor, site.client_of

    @routes.get("/api/conversations")
    def api_conversations(request: Request) -> JSONResponse:
        user, _ = current(request)
        need(request, user.sees_conversations)
        q = parse_list_query(request.query_params, zone_name)
        result = queries.conversations(store, scoped(user, q.filters), q.sort, q.descending, q.size,
                                       (q.page - 1) * q.size)
        redactor = get_redactor()
        rows = [mask_row(r, redactor) for r in result.dicts()]
        return JSONResponse({"total": result.total, "page": q.page, "size": q.size,
                             "conversations": _jsonable(rows)})

    @routes.get("/api/conversations/{conversation_id:path}")
    def api_conversation(request: Request, conversation_id: str) -> JSONResponse:
        user, _ = current(request)
        need(request, user.sees_conversations)
        c = open_conversation(user, conversation_id)
        if request.query_params.get("pii") == "1":
            need(request, user.may_show_pii)
            auth.audit(store, user.username, "pii_shown", conversation_id, detail="api", client=client_of(request))
        else:
            c = mask_conversation(c, get_redactor())
        return JSONResponse(_jsonable(c))

    @routes.post("/api/reviews", status_code=201)
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
        c = await run_in_threadpool(queries.conversation, store, body["conversation_id"])
        if c is not None and not user.sees_team(c.get("team")):
            raise HTTPException(403, "Разговор другой команды вам недоступен")
        reviewer = body["reviewer"] if auth_mode == "none" else user.username
        review = Review(conversation_id=body["conversation_id"], verdict=body["verdict"],
                        reviewer=reviewer, finding_key=body.get("finding_key") or None,
                        comment=body.get("comment"))
        try:
            review_id = await run_in_threadpool(store.add_review, review)
        except ValueError as exc:  # the store's checks (verdict, reviewer), worded for the page
            if review.verdict not in VERDICTS:
                raise HTTPException(400, f"verdict: одно из {', '.join(VERDICTS)}, а не {review.verdict!r}") from exc
            raise HTTPException(400, f"Вердикт не записан: {exc}") from exc
        except LookupError as exc:
            what = f"находка {review.finding_key!r}" if review.finding_key else "разговор"
            raise HTTPException(404, f"{review.conversation_id}: {what} не найден(а)") from exc
        await run_in_threadpool(auth.audit, store, user.username, "verdict", review.conversation_id,
                                f"{review.finding_key or 'весь разговор'}: {review.verdict}", client_of(request))
        return JSONResponse({"review_id": review_id, "conversation_id": review.conversation_id,
                             "finding_key": review.finding_key, "verdict": review.verdict,
                             "comment": (review.comment or "").strip() or None,
                             "reviewer": review.reviewer.strip()}, status_code=201)

    return routes
