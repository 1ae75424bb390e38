"""Signing in and out: the login form (``accounts`` mode only), its submission and logout."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from qa.review import auth
from qa.review.web.site import SESSION_COOKIE, Site

LOGIN_CSRF_COOKIE = "qa_login_csrf"


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/`` (no redirect elsewhere after signing in)."""
    return target if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
        else "/"


def router(site: Site) -> APIRouter:
    """The ``/login`` and ``/logout`` routes of ``site``."""
    routes = APIRouter()
    store, auth_mode, secure_cookies, throttle = site.store, site.auth_mode, site.secure_cookies, site.throttle
    current, check_csrf, client_of, page = site.current, site.check_csrf, site.client_of, site.page

    @routes.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        if auth_mode != "accounts":
            return RedirectResponse("/", status_code=303)
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = page(request, "login.html", user=None, csrf_token=token,
                        next=safe_next(request.query_params.get("next")), error=None)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies)
        return response

    @routes.post("/login")
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
            found = await run_in_threadpool(auth.login, store, form.get("username", "").strip(),
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

    @routes.post("/logout")
    async def logout(request: Request) -> Response:
        user, csrf = current(request)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        check_csrf(request, form.get("csrf_token") or request.headers.get("x-csrf-token"), csrf)
        if auth_mode == "accounts":
            await run_in_threadpool(auth.logout, store, request.cookies.get(SESSION_COOKIE, ""), user.username,
                                    client_of(request))
        response = RedirectResponse("/login" if auth_mode == "accounts" else "/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    return routes
