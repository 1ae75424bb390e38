"""What the review's browser pages load: the flagged list, one conversation and its recording, dashboard, rule
precision, failures, users, and the coaching-examples download."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from qa.errors import QAInputError
from qa.inbox.inputs import AUDIO_SUFFIXES
from qa.review import auth
from qa.review.export import turn_words
from qa.review.web import charts
from qa.review.web.masking import _masked, mask_conversation, mask_history, mask_row
from qa.review.web.media import PLAYABLE, _ranged, recording_wav, starts_listening
from qa.review.web.params import BadRequest, _int, _text, parse_filters, parse_list_query
from qa.review.web.provenance import field_rows, other_metadata, related
from qa.review.web.site import Site
from qa.review.web.transcript import dialogue, redecoded_channels
from qa.speech.audio_paths import audio_problem, resolve_audio
from qa.store import VERDICTS, queries


def links(params: Mapping[str, str]) -> Callable[..., str]:
    """``link(**changes)``: the query string of ``params`` with ``changes`` applied (empty values left out)."""
    def link(**changes: Any) -> str:
        merged = {**params, **{k: str(v) for k, v in changes.items() if v is not None}}
        return "?" + urlencode({k: v for k, v in merged.items() if v not in ("", None)})
    return link


def router(site: Site) -> APIRouter:
    """The HTML pages of ``site``, its ``/audio/…`` recordings and its ``/export`` download."""
    routes = APIRouter()
    store, root, zone_name, titles, rules_dir = site.store, site.root, site.zone_name, site.titles, site.rules_dir
    current, need, scoped, scoped_options, page = site.current, site.need, site.scoped, site.scoped_options, site.page
    open_conversation, get_redactor, client_of = site.open_conversation, site.get_redactor, site.client_of

    @routes.get("/", response_class=HTMLResponse)
    def conversation_list(request: Request) -> Response:
        user, _ = current(request)
        if user.role == "admin":
            return RedirectResponse("/users", status_code=303)
        need(request, user.sees_conversations)
        q = parse_list_query(request.query_params, zone_name)
        filters = scoped(user, q.filters)
        result = queries.conversations(store, filters, q.sort, q.descending, q.size, (q.page - 1) * q.size)
        redactor = get_redactor()
        rows = [mask_row(r, redactor) for r in result.dicts()]
        return page(request, "list.html", rows=rows, total=result.total, q=q,
                    pages=max(1, math.ceil(result.total / q.size)), params=dict(request.query_params),
                    link=links(dict(request.query_params)), options=scoped_options(user),
                    export_link="/export?" + urlencode({k: v for k, v in request.query_params.items()
                                                        if v and k not in ("sort", "order", "size", "page", "all")}))

    @routes.get("/conversations/{conversation_id:path}", response_class=HTMLResponse)  # ids may hold «/»
    def conversation_page(request: Request, conversation_id: str) -> Response:
        user, _ = current(request)
        need(request, user.sees_conversations)
        c = open_conversation(user, conversation_id)
        source = c.get("source_path") or ""
        has_audio = user.hears_audio and c["channel"] == "call" and (not source or
                                                                    Path(source).suffix.lower() in AUDIO_SUFFIXES)
        audio_missing = audio_problem(source, root) if has_audio else None
        history = queries.reviews(store, conversation_id)
        clear = request.query_params.get("pii") == "1"
        if clear:
            need(request, user.may_show_pii)
            auth.audit(store, user.username, "pii_shown", conversation_id, client=client_of(request))
        else:
            redactor = get_redactor()
            c, history = mask_conversation(c, redactor), mask_history(history, redactor)
            if audio_missing is not None:  # the file name may hold the caller's number
                audio_missing = replace(audio_missing, path=_masked(redactor, str(audio_missing.path)))
        fields = field_rows(c)
        stats = (c.get("transcription") or {}).get("stats") or {}
        return page(request, "conversation.html", c=c, turns=dialogue(c["utterances"], c["findings"], stats),
                    attribution=stats.get("mono_attribution") if isinstance(stats.get("mono_attribution"), dict)
                    else None, decoded_again=redecoded_channels(stats),
                    findings_by_key={f["finding_key"]: f for f in c["findings"]}, has_audio=has_audio,
                    audio_missing=audio_missing, history=history, clear=clear, fields=fields, related=related(c),
                    metadata=other_metadata(c, fields),
                    audio_src=f"/audio/{quote(conversation_id, safe='')}" + ("?pii=1" if clear else ""))

    @routes.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.sees_stats)
        filters = scoped(user, parse_filters(request.query_params, flagged_only=False, timezone=zone_name))
        _, day_rows = queries.daily_trend(store, filters)
        cols, operator_rows = queries.stats(store, "operator", filters)
        _, hits = queries.rule_hits(store, filters, limit=10)
        days = [str(r[0]) for r in day_rows]
        return page(request, "dashboard.html", params=dict(request.query_params), options=scoped_options(user),
                    histogram=charts.histogram(queries.score_histogram(store, filters)),
                    top_rules=charts.bars([(titles.rule(r[0]), r[2]) for r in hits]),
                    trend=charts.trend(days, [r[6] for r in day_rows], [r[2] for r in day_rows]),
                    operators=[dict(zip(cols, r, strict=True)) for r in operator_rows])

    @routes.get("/rules", response_class=HTMLResponse)
    def rules_page(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.all_teams and user.sees_stats)  # precision counts every team's findings
        cols, rows = queries.rule_precision(store)
        return page(request, "rules.html", rules=[dict(zip(cols, r, strict=True)) for r in rows],
                    rescore=queries.last_rescore(store))

    @routes.get("/failures", response_class=HTMLResponse)
    def failures_page(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.sees_failures)
        everything = request.query_params.get("all") == "1"
        return page(request, "failures.html", failures=queries.failures(store, include_resolved=everything),
                    everything=everything)

    @routes.get("/users", response_class=HTMLResponse)
    def users_page(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.sees_users)
        return page(request, "users.html", accounts=auth.list_users(store))

    @routes.get("/audio/{conversation_id:path}")
    def audio(request: Request, conversation_id: str) -> Response:
        """The recording: with personal data beeped, or as recorded (``?pii=1``) for a user who may show personal
        data in clear. Each listening is audited."""
        user, _ = current(request)
        need(request, user.hears_audio)
        clear = request.query_params.get("pii") == "1"
        if clear:
            need(request, user.may_show_pii)
        source = queries.conversation_source(store, conversation_id)
        if source is None:
            raise HTTPException(404, f"Разговор {conversation_id!r} не найден")
        c = queries.conversation(store, conversation_id)
        if c is None or not user.sees_team(c.get("team")):
            raise HTTPException(403, f"Разговор {conversation_id!r} другой команды вам недоступен")
        channel, stored = source
        if channel != "call" or (stored and Path(stored).suffix.lower() not in AUDIO_SUFFIXES):
            raise HTTPException(404, f"У разговора {conversation_id!r} нет записи (чат или импортированная "
                                     "расшифровка)")
        legs = (c.get("metadata") or {}).get("legs") if stored else None
        for leg in legs or [stored]:
            problem_text = audio_problem(leg, root)
            if problem_text:
                raise HTTPException(404, f"Запись разговора {conversation_id!r} недоступна: {problem_text}")
        paths = [resolve_audio(leg, root) for leg in legs or [stored or ""]]  # split legs: one stereo recording
        mute = () if clear else tuple(get_redactor().mute_ranges(
            (u["text"], turn_words(u), u["start_s"], u["end_s"]) for u in c["utterances"]))
        if starts_listening(request.headers.get("range")):
            auth.audit(store, user.username, "audio_played", conversation_id,
                       "clear" if clear else f"beeped ({len(mute)} ranges)", client_of(request))
        media_type = PLAYABLE.get(paths[0].suffix.lower())
        if media_type and not mute and len(paths) == 1:
            return FileResponse(paths[0], media_type=media_type)
        try:
            data = recording_wav(paths, mute)
        except (QAInputError, TypeError, ValueError) as exc:  # undecodable audio, bad sidecar raw_format
            raise HTTPException(422, f"Запись разговора {conversation_id!r} не удалось декодировать: {exc}") from exc
        return _ranged(data, request.headers.get("range"), "audio/wav")

    @routes.get("/export")
    def export_page(request: Request) -> Response:
        """Coaching examples of the filtered findings as one self-contained HTML page (a download): personal data
        always redacted, clips beeped; a team lead gets their teams' only. Audited."""
        import tempfile
        from dataclasses import replace

        from qa.review.export import ExportOptions, export_examples

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
            result = export_examples(store, replace(filters, verdict=verdict), options, get_redactor())
            body = result.out_file.read_text(encoding="utf-8")
        shown = {k: v for k, v in params.items() if v}
        auth.audit(store, user.username, "export", None,
                   f"html, {len(result.examples)} examples, {len(result.missing_clips)} without clip: {shown}",
                   client_of(request))
        return HTMLResponse(body, headers={"Content-Disposition": 'attachment; filename="qa-examples.html"'})

    return routes
