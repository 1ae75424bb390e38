"""The search page (every conversation's words, by meaning) and a search saved as a draft rule."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from qa.review import auth
from qa.review.search import personal_data_in_query, run_search, save_as_rule
from qa.review.web.pages import links
from qa.review.web.params import parse_search
from qa.review.web.site import Site
from qa.rules.drafting import DraftChoices, DraftError, RuleExists
from qa.text.search_query import QueryError


def _rules_folder(site: Site) -> Path:
    """Where drafts are saved: the page's rule folder, never the rules shipped inside the package."""
    import qa
    from qa.config import default_rules_dir

    folder = Path(site.rules_dir if site.rules_dir is not None else default_rules_dir()).resolve()
    if folder.is_relative_to(Path(qa.__file__).resolve().parent):
        raise HTTPException(409, "Правила, встроенные в пакет, менять нельзя: запустите qa serve --rules ПАПКА "
                                 "(редактируемую копию даёт qa init)")
    return folder


def _marks(body: dict[str, Any], key: str) -> list[tuple[str, int]]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPException(400, f"{key}: список отметок «разговор:реплика»")
    marks = []
    for item in value:
        cid, sep, idx = item.rpartition(":")
        if not sep or not cid or not idx.isdigit():
            raise HTTPException(400, f"{key}: «{item}» — не «разговор:реплика»")
        marks.append((cid, int(idx)))
    return marks


def router(site: Site) -> APIRouter:
    """``/search`` and ``/api/search/rule`` of ``site``."""
    routes = APIRouter()
    store, zone_name = site.store, site.zone_name
    current, need, page, check_csrf = site.current, site.need, site.page, site.check_csrf

    @routes.get("/search", response_class=HTMLResponse)
    def search_page(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.sees_conversations)
        params = request.query_params
        form = parse_search(params, zone_name)
        filters = site.scoped(user, form.filters)
        clear = params.get("pii") == "1"
        if clear:
            need(request, user.may_show_pii)
        result, error = None, None
        if form.text is not None:
            private = [] if user.may_show_pii else personal_data_in_query(form.text, site.get_redactor())
            if private:
                error = ("Искать по персональным данным (" + ", ".join(private) + ") может только супервизор с "
                         "правом их просмотра: данные на странице скрыты")
            else:
                try:
                    result = run_search(store, form.text, filters, form.fuzzy, form.page, form.size,
                                        redactor=None if clear else site.get_redactor())
                except QueryError as exc:
                    error = str(exc)
            if clear and result is not None:
                auth.audit(store, user.username, "pii_shown", None, f"search «{form.text[:200]}»",
                           site.client_of(request))
        options = site.scoped_options(user)
        total = result.page.total if result else 0
        return page(request, "search.html", 400 if error else 200, form=form, result=result, error=error,
                    params=dict(params), options=options, link=links(dict(params)), clear=clear,
                    pages=max(1, math.ceil(total / form.size)), may_save=user.role == "supervisor",
                    speaker_default=filters.speaker or "any")

    @routes.post("/api/search/rule", status_code=201)
    async def save_rule(request: Request) -> JSONResponse:
        user, csrf = current(request)
        check_csrf(request, request.headers.get("x-csrf-token"), csrf)
        if user.role != "supervisor":
            raise HTTPException(403, "Сохранять правила может только супервизор")
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HTTPException(400, "Тело запроса — не JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "Тело запроса должно быть JSON-объектом")
        for key in ("q", "rule_id", "title"):
            if not isinstance(body.get(key), str):
                raise HTTPException(400, f"{key}: обязательное поле (строка)")
        right, wrong = _marks(body, "right"), _marks(body, "wrong")
        choices = DraftChoices(
            rule_id=body["rule_id"].strip(), title=body["title"], speaker=str(body.get("speaker") or "any"),
            category=str(body.get("category") or "search"), severity=str(body.get("severity") or "medium"),
            kind=body.get("kind") or None, status=str(body.get("status") or "experimental"),
            author=user.username)
        folder = _rules_folder(site)
        overwrite = body.get("overwrite") is True
        existed = (folder / f"{choices.rule_id}.yml").exists()
        try:
            draft, paths = await run_in_threadpool(save_as_rule, store, body["q"], body.get("fuzzy") is True, right,
                                                   wrong, choices, folder, overwrite, site.get_redactor())
        except RuleExists as exc:
            return JSONResponse({"detail": str(exc), "exists": True}, status_code=409)
        except (QueryError, DraftError, LookupError) as exc:
            raise HTTPException(400, str(exc)) from exc
        except OSError as exc:  # the rule folder is not writable, the disk is full
            raise HTTPException(500, f"Правило не записано в {folder}: {exc.strerror or exc}") from exc
        await run_in_threadpool(
            auth.audit, store, user.username, "rule_saved", None,
            f"{choices.rule_id} from «{body['q'][:200]}»: {len(right)} right, {len(wrong)} wrong, "
            f"{'overwrote' if existed else 'new'}, {paths[0]}", site.client_of(request))
        return JSONResponse({"rule_id": draft.rule_id, "files": [str(p) for p in paths], "notes": draft.notes,
                             "hits": draft.result.hits, "oks": draft.result.oks, "rules_dir": str(folder)},
                            status_code=201)

    return routes
