"""Request ids and the access log: the outermost middleware.

Every HTTP request and WebSocket connection gets an id: the client's `X-Request-Id` when
well-formed (1 to 128 of `A-Z a-z 0-9 . _ : -`), else a new one. It is bound into the log
context for every line logged while the request runs (and into the tasks it queues), set
on the response (a WebSocket's handshake answer too), whatever answered it, and logged
with the request's method, route template (never its query string), status and duration.
"""

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from request_context.context import Credentials
from server.logging_setup import ACCESS_LOGGER

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_FIELD = "request_id"
USER_ID_FIELD = "user_id"
REQUEST_ID_SCOPE_KEY = "sselfie.request_id"

_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HEADER_NAME = REQUEST_ID_HEADER.lower().encode()
# Probes answered well are logged at DEBUG: every few seconds, they would drown the rest.
_PROBES = frozenset({"/healthz", "/readyz"})
_NO_STATUS = 0

access_log = logging.getLogger(ACCESS_LOGGER)


def new_request_id() -> str:
    return uuid.uuid4().hex


def is_well_formed(request_id: str) -> bool:
    return _WELL_FORMED.fullmatch(request_id) is not None


def request_id_of(scope: Scope) -> str:
    """The id the middleware gave this request (a new one where it did not run)."""
    found = scope.get(REQUEST_ID_SCOPE_KEY)
    return found if isinstance(found, str) else new_request_id()


def current_request_id() -> str | None:
    """The id of the request (or of the request that queued the task) running now."""
    found = structlog.contextvars.get_contextvars().get(REQUEST_ID_FIELD)
    return found if isinstance(found, str) else None


def bind_signed_in(credentials: Credentials) -> None:
    """From here on, this request's lines carry the internal id of its signed-in user."""
    if credentials.user is not None:
        structlog.contextvars.bind_contextvars(**{USER_ID_FIELD: credentials.user.id})


def route_template(scope: Scope) -> str | None:
    """The path of the route that matches (or matched) the request, e.g. `/images/{image_id}`."""
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        for candidate in getattr(app, "routes", ()):
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                route = candidate
                break
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    return f"{path}/{{path}}" if isinstance(route, Mount) else path


@contextmanager
def request_log_context(request_id: str) -> Iterator[None]:
    """Lines logged inside carry `request_id` (and what the request binds), nothing of the
    context outside; that context is back as it was after."""
    outside = structlog.contextvars.get_contextvars()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**{REQUEST_ID_FIELD: request_id})
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**outside)


@dataclass
class _Exchange:
    """What the access line says of one request."""

    started: float
    status: int = _NO_STATUS
    answered: bool = False


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or new_request_id()
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        exchange = _Exchange(started=time.perf_counter())

        async def send_with_id(message: Message) -> None:
            await send(_with_request_id(message, request_id, exchange))

        async def receive_noting_disconnect() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect" and exchange.status == _NO_STATUS:
                exchange.status = message.get("code", 1000)
            return message

        with request_log_context(request_id):
            try:
                await self.app(scope, receive_noting_disconnect, send_with_id)
            except Exception:
                if scope["type"] == "http" and not exchange.answered:
                    await _internal_error(send_with_id)
                _log_exchange(scope, exchange, failed=True)
                raise
            _log_exchange(scope, exchange, failed=False)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == _HEADER_NAME:
            text = value.decode("latin-1").strip()
            return text if is_well_formed(text) else None
    return None


def _with_request_id(message: Message, request_id: str, exchange: _Exchange) -> Message:
    kind = message["type"]
    if kind in ("http.response.start", "websocket.http.response.start"):
        exchange.status = message["status"]
        exchange.answered = True
    elif kind == "websocket.accept":
        exchange.answered = True
    elif kind == "websocket.close":
        exchange.status = message.get("code", 1000)
        return message
    else:
        return message
    headers = [
        (name, value) for name, value in message.get("headers", ()) if name.lower() != _HEADER_NAME
    ]
    headers.append((_HEADER_NAME, request_id.encode()))
    return {**message, "headers": headers}


async def _internal_error(send: Send) -> None:
    body = b"Internal Server Error"
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _log_exchange(scope: Scope, exchange: _Exchange, *, failed: bool) -> None:
    websocket = scope["type"] == "websocket"
    method = "WEBSOCKET" if websocket else scope.get("method", "")
    # An unrouted path is logged as is: it has no template (the query string never is).
    path = route_template(scope) or scope.get("path", "")
    duration_ms = round((time.perf_counter() - exchange.started) * 1000, 1)
    status = exchange.status
    fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
    if failed:
        access_log.exception("%s %s failed after %.1f ms", method, path, duration_ms, extra=fields)
        return
    level = logging.DEBUG if path in _PROBES and status < 400 else logging.INFO
    ending = f"closed {status}" if websocket else str(status)
    access_log.log(level, "%s %s %s in %.1f ms", method, path, ending, duration_ms, extra=fields)
