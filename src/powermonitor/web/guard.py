"""The door of the web app: every HTTP request passes these checks before any route sees it.

* **Host** (DNS rebinding): a page on ``evil.example`` whose name is made to resolve to
  127.0.0.1 reaches this server with ``Host: evil.example``. Only IP literals, ``localhost``
  (and ``*.localhost``) and the configured ``allowed_hosts`` are served; anything else is 421.
  An IP literal is always safe: a rebinding attack needs a name the attacker controls.
* **Control requests** (any method but GET/HEAD/OPTIONS under /api/): the token is checked
  from the headers, then the content type (JSON only: ``text/plain`` and form bodies are what
  a page can send cross-site without a CORS preflight), then the declared length, and only
  then is the body read, counting, up to :data:`~powermonitor.limits.MAX_BODY_BYTES`. A refused
  request is answered at once with ``Connection: close``, so its body is never read at all.

Switching (and anything else that changes state) needs the token in a header, never a cookie:
another page cannot set that header without a preflight, which this server never grants.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable, Collection, Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..limits import MAX_BODY_BYTES

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_HELP: Final = ("this needs the token: send 'Authorization: Bearer <token>' or "
                     "'X-Powermonitor-Token: <token>' (the service says where it keeps it at startup)")


class Refusal(Exception):
    """A request refused at the door: HTTP status, one-line reason, extra headers."""

    def __init__(self, status: int, detail: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = tuple(headers)


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (the first), decoded as Latin-1 (as HTTP defines it)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def host_name(value: str) -> str:
    """The host part of a Host header, lower case, without port, brackets or final dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        value = name
    return value.rstrip(".")


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    return True


def host_allowed(name: str, allowed: Collection[str]) -> bool:
    """IP literals, localhost and ``allowed`` (exact names, or ``.example.org`` for a domain
    and its subdomains) are served; see the module docstring for why."""
    if is_ip_literal(name) or name == "localhost" or name.endswith(".localhost"):
        return True
    return any(name == a or (a.startswith(".") and (name.endswith(a) or name == a[1:]))
               for a in allowed)


def check_token(scope: Scope, expected: str) -> None:
    """Refuse (401 without a token, 403 with a wrong one); compared in constant time."""
    given = header(scope, b"x-powermonitor-token")
    authorization = header(scope, b"authorization")
    if given is None and authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            given = value.strip()
    if not given:
        raise Refusal(401, TOKEN_HELP, [("WWW-Authenticate", "Bearer")])
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refusal(403, "wrong token")


def has_token(scope: Scope, expected: str) -> bool:
    try:
        check_token(scope, expected)
    except Refusal:
        return False
    return True


def cross_origin(scope: Scope) -> str | None:
    """Why a request comes from another site's page (None when it does not appear to).

    Browsers mark where a request comes from: ``Sec-Fetch-Site`` (sent by current browsers
    to localhost and https), and ``Origin`` on every cross-origin request in CORS mode (an
    EventSource or fetch). A request with neither is not from another site's script.
    """
    site = header(scope, b"sec-fetch-site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {site}"
    origin = header(scope, b"origin")
    if origin is not None:
        host = header(scope, b"host") or ""
        scheme = scope.get("scheme", "http")
        if origin.strip().lower() != f"{scheme}://{host.strip().lower()}":
            return f"Origin: {origin}"
    return None


def _json_type(value: str | None) -> bool:
    if value is None:
        return False
    kind = value.partition(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


class Guard:
    """ASGI middleware applying the checks above; outermost, so nothing runs before it."""

    def __init__(self, app: ASGIApp, token: Callable[[], str],
                 allowed_hosts: Collection[str] = (), max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.token = token
        self.allowed = frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip())
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            host = header(scope, b"host")
            if host is not None and not host_allowed(host_name(host), self.allowed):
                raise Refusal(421, f"this server does not answer to the name {host_name(host)!r}: "
                                   "add it to [web] allowed_hosts if it is yours")
            if scope["method"] not in SAFE_METHODS and scope["path"].startswith("/api/"):
                receive = await self._control(scope, receive)
        except Refusal as refusal:
            await _refuse(send, refusal)
            return
        await self.app(scope, receive, send)

    async def _control(self, scope: Scope, receive: Receive) -> Receive:
        """Check a control request, then read its (small) body and replay it to the app."""
        check_token(scope, self.token())
        length = header(scope, b"content-length")
        chunked = header(scope, b"transfer-encoding") is not None
        if (chunked or (length or "0").strip() != "0") and not _json_type(
                header(scope, b"content-type")):
            raise Refusal(415, "the body must be JSON: send 'Content-Type: application/json'")
        if length is not None and length.strip().isdigit() and int(length) > self.max_body:
            raise Refusal(413, f"the body is too large (at most {self.max_body} bytes)")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app will see the disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise Refusal(413, f"the body is too large (at most {self.max_body} bytes)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


async def _refuse(send: Send, refusal: Refusal) -> None:
    body = json.dumps({"detail": refusal.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"),
               *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in refusal.headers)]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
