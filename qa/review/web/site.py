"""What every route of one review application shares: its store and settings, who the request's user is, the
permission, CSRF and team checks, and rendering a page.

:func:`qa.review.web.app.create_app` builds one :class:`Site` per application and hands it to the route groups
(:mod:`~qa.review.web.signin`, :mod:`~qa.review.web.pages`, :mod:`~qa.review.web.api`).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from qa.review import auth, labels
from qa.review.auth import User
from qa.store import Store, StoreError, queries
from qa.store.queries import Filters

F = TypeVar("F")  # a dataclass of filters with a ``team`` field

SESSION_COOKIE = "qa_session"
MENU_TTL_S = 60.0  # how long the filter menus are kept: a night's write shows in them within a minute


class MenuCache:
    """The filter menus' choices (distinct teams, operators, rules, categories), kept ``ttl_s`` seconds.

    Building them is four DISTINCT scans of the store (and, for a user of one team, that team's operators): too
    much to pay on every view of a page. Entries are kept per key (all teams, or one team's operators); each
    view still narrows them to what its user may see. :meth:`clear` drops them all (after a write of this
    process that changes them); other processes' writes show once an entry is ``ttl_s`` old.
    """

    def __init__(self, ttl_s: float = MENU_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self._clock = ttl_s, clock
        self._kept: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._guard = threading.Lock()

    def get(self, key: tuple[str, ...], build: Callable[[], Any]) -> Any:
        """The value kept for ``key`` while it is fresh, else ``build()`` (kept from now)."""
        now = self._clock()
        with self._guard:
            kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.ttl_s:
            return kept[1]
        value = build()  # outside the lock: a slow store does not hold up views of other keys
        with self._guard:
            self._kept[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._guard:
            self._kept.clear()


class NotSignedIn(Exception):
    """A request without a live session: HTML pages go to the login form, JSON gets 401."""


def _same_origin(request: Request) -> bool:
    """False for a request a browser marks as coming from another site."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
        return False
    return request.headers.get("sec-fetch-site") not in ("cross-site", "same-site")


@dataclass
class Site:
    """One application's store, settings and shared request helpers.

    ``root``: what relative call paths resolve against; ``zone_name``: the time zone dates are read and shown in;
    ``secret``: the key of the CSRF tokens derived for ``proxy`` and ``none`` sign-in; ``redactor``: made on first
    use when not given.
    """

    store: Store
    auth_mode: str
    proxy_header: str | None
    secure_cookies: bool
    root: Path
    zone_name: str
    rules_dir: str | Path | None
    titles: labels.Titles
    templates: Jinja2Templates
    secret: bytes
    redactor: Any = None
    throttle: auth.ClientThrottle = field(default_factory=auth.ClientThrottle)
    menus: MenuCache = field(default_factory=MenuCache)

    def get_redactor(self) -> Any:
        """The redactor that masks personal data (the default one is built on first use: it is slow to load)."""
        if self.redactor is None:
            from qa.text.redaction import Redactor

            self.redactor = Redactor()
        return self.redactor

    def derived_csrf(self, name: str) -> str:
        return hmac.new(self.secret, name.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def client_of(request: Request) -> str:
        """The client's address, as the audit log records it."""
        return request.client.host if request.client else "-"

    def current(self, request: Request) -> tuple[User, str]:
        """The user of the request and the CSRF token their forms must send back."""
        if self.auth_mode == "none":
            return User("—", "supervisor"), self.derived_csrf("none")
        if self.auth_mode == "proxy":
            name = (request.headers.get(self.proxy_header or "") or "").strip()
            user = auth.get_user(self.store, name) if name else None
            if user is None:
                raise HTTPException(403, "Прокси не передал известного пользователя")
            return user, self.derived_csrf("user:" + name)
        found = auth.session(self.store, request.cookies.get(SESSION_COOKIE))
        if found is None:
            raise NotSignedIn
        return found.user, found.csrf_token

    @staticmethod
    def need(request: Request, allowed: bool) -> None:
        """403 unless ``allowed``."""
        if not allowed:
            raise HTTPException(403, "Недостаточно прав для этой страницы")

    @staticmethod
    def check_csrf(request: Request, sent: str | None, expected: str) -> None:
        """403 for a request from another site or without the right CSRF token."""
        if not _same_origin(request):
            raise HTTPException(403, "Запрос с другого сайта отклонён")
        if not sent or not hmac.compare_digest(sent, expected):
            raise HTTPException(403, "Неверный CSRF-токен: обновите страницу и повторите")

    @staticmethod
    def scoped(user: User, filters: F) -> F:
        """Filters (the list's :class:`Filters` or a search's, any dataclass with a ``team``) narrowed to the teams
        the user may see (403 for another team)."""
        if user.all_teams:
            return filters
        if filters.team is not None:
            if filters.team not in user.teams:
                raise HTTPException(403, "Эта команда вам недоступна")
            return filters
        return replace(filters, team=user.teams[0])

    def scoped_options(self, user: User) -> dict[str, list[str]]:
        """The filter form's choices, narrowed to the user's teams (read through :attr:`menus`)."""
        options = {key: list(values) for key, values in
                   self.menus.get(("all",), lambda: queries.filter_options(self.store)).items()}
        if not user.all_teams:  # a team lead: the operators of each of the user's teams
            options["teams"] = [t for t in options["teams"] if t in user.teams]
            options["operators"] = sorted({op for team in user.teams for op in self.menus.get(
                ("operators", team), lambda team=team: self._team_operators(team))})
        return options

    def _team_operators(self, team: str) -> list[str]:
        cols, rows = queries.stats(self.store, "operator", Filters(flagged=None, team=team))
        at = cols.index("operator_id") if "operator_id" in cols else None
        return sorted({r[at] for r in rows if r[at]}) if at is not None else []

    def open_conversation(self, user: User, conversation_id: str) -> dict[str, Any]:
        """The conversation (404 when there is none, 403 when another team's)."""
        c = queries.conversation(self.store, conversation_id)
        if c is None:
            raise HTTPException(404, f"Разговор {conversation_id!r} не найден")
        if not user.sees_team(c.get("team")):
            raise HTTPException(403, f"Разговор {conversation_id!r} другой команды вам недоступен")
        return c

    def page(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """The template ``name`` rendered with ``context`` and, unless given, the signed-in user and CSRF token."""
        if "user" not in context:
            try:
                context["user"], context["csrf_token"] = self.current(request)
            except (NotSignedIn, HTTPException, StoreError):  # an error page shows even when the store is down
                context["user"], context["csrf_token"] = None, ""
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)
