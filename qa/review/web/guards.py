"""What every response of the review page is wrapped in: the ``Host`` check (no DNS rebinding) and the security
headers (no framing, no sniffing, no inline script, nothing cached).

Both are plain ASGI middleware, so they hold for every route, static files and error pages included.

**Host.** A page served on 127.0.0.1 is reachable from any web page the reviewer opens: a site whose name an
attacker re-points at 127.0.0.1 (DNS rebinding) talks to it as its own origin, cookies and CSRF checks
notwithstanding under ``--no-auth``. Only requests naming the server by a name it was bound to (or one an
administrator listed: ``--allowed-host``, ``allowed_hosts`` in qa.toml) are answered; any other ``Host`` gets 400.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")

# Scripts and styles only from the page's own files (no inline code, so an injected <script> would not run),
# nothing framed anywhere (clickjacking), forms and fetches only to itself.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                           "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer Chromium sends «Origin: null» on the page's own form posts,
    # which the CSRF check would refuse
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
NO_STORE = "no-store"
STATIC_PREFIX = "/static/"
BAD_HOST_MESSAGE = ("Неизвестное имя сервера в заголовке Host: запрос отклонён (защита от DNS rebinding). "
                    "Откройте страницу по адресу, на котором запущен qa serve, или добавьте имя в --allowed-host "
                    "(allowed_hosts в qa.toml).")


class HostError(ValueError):
    """An allowed-host entry that is no host name (``*`` alone, a scheme, a path)."""


def normalise_host(value: str) -> str:
    """A host name as compared: lower case, without the port and the brackets of an IPv6 address, no final dot."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8765
        return value[1:value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:  # name:port (a bare IPv6 address has more colons)
        value = value.partition(":")[0]
    return value.rstrip(".")


def check_allowed_host(entry: str) -> str:
    """An ``--allowed-host`` entry, normalised: a name, an address, or ``*.domain`` for its subdomains."""
    host = normalise_host(entry)
    bare = host[2:] if host.startswith("*.") else host
    if not bare or "*" in bare or "/" in host or " " in host:
        raise HostError(f"allowed host {entry!r}: a host name (qa.example.com), an address (10.0.0.5) or *.domain "
                        "(every subdomain); «*» alone would switch the DNS rebinding check off")
    return host


def bound_host_names(host: str) -> list[str]:
    """The names a server bound to ``host`` is reached by: the loopback names for loopback, this machine's name
    and addresses for a wildcard (0.0.0.0, ::), otherwise ``host`` itself."""
    host = normalise_host(host)
    if host in LOOPBACK_NAMES or host.startswith("127."):
        return [*dict.fromkeys([host, *LOOPBACK_NAMES])]
    if host not in WILDCARD_HOSTS:
        return [host]
    names = [*LOOPBACK_NAMES]
    for name in (socket.gethostname(), socket.getfqdn()):
        names.append(name.lower())
        try:
            names.extend(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:
            pass
    names.extend(_routed_addresses())
    return [*dict.fromkeys(normalise_host(n) for n in names)]


def _routed_addresses() -> list[str]:
    """The addresses this machine sends from on its networks (a UDP socket's source after ``connect``, which sends
    nothing): what other machines reach a server bound to 0.0.0.0 by, when its name resolves to 127.0.1.1."""
    found = []
    for family, probe in ((socket.AF_INET, ("10.255.255.255", 1)), (socket.AF_INET6, ("fd00::1", 1))):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect(probe)
                found.append(str(udp.getsockname()[0]))
        except OSError:
            pass
    return found


def host_allowed(header: str, allowed: Iterable[str]) -> bool:
    """Whether a request's ``Host`` header names one of the ``allowed`` hosts (``*.domain`` takes subdomains)."""
    host = normalise_host(header)
    if not host:
        return False
    for entry in allowed:
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif host == entry:
            return True
    return False


class Guard:
    """ASGI middleware: 400 for a ``Host`` not in ``allowed_hosts``; the security headers on every response,
    ``Cache-Control: no-store`` on everything but the static files."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed_hosts = tuple(check_allowed_host(h) for h in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not host_allowed(host, self.allowed_hosts):
            log.warning("refused a request for Host %r (allowed: %s)", host, ", ".join(self.allowed_hosts))
            await _plain(send, 400, BAD_HOST_MESSAGE)
            return
        cacheable = scope.get("path", "").startswith(STATIC_PREFIX)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [(k, v) for k, v in message.get("headers", [])
                       if k.lower() not in _OURS and (cacheable or k.lower() != b"cache-control")]
                raw.extend((k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items())
                if not cacheable:
                    raw.append((b"cache-control", NO_STORE.encode()))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, with_headers)


_OURS = frozenset(k.encode() for k in SECURITY_HEADERS)


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()), (b"cache-control", NO_STORE.encode())]})
    await send({"type": "http.response.body", "body": body})
