"""HTTP metrics: requests this server answers (an ASGI middleware), and requests it sends
to Replicate (an httpx client that counts them)."""

import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import (
    HTTP_DURATION,
    HTTP_REQUESTS,
    OTHER,
    UPSTREAM_DURATION,
    UPSTREAM_REQUESTS,
    method_label,
)
from server.request_ids import route_template

# The route of a request no route matches (its path is never a label).
UNMATCHED = "unmatched"
# Replicate's API paths this server calls, under the base URL's own path (`/v1`).
REPLICATE_PATHS = (
    "/models",
    "/models/{owner}/{name}",
    "/models/{owner}/{name}/versions",
    "/models/{owner}/{name}/versions/{id}",
    "/models/{owner}/{name}/versions/{id}/trainings",
    "/files",
    "/files/{id}",
    "/trainings",
    "/trainings/{id}",
    "/trainings/{id}/cancel",
    "/predictions",
    "/predictions/{id}",
    "/predictions/{id}/cancel",
    "/webhooks/default/secret",
)
# An app that raised before it answered: what the server sends then.
_NO_ANSWER_STATUS = 500


class HttpMetricsMiddleware:
    """Counts and times each HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = _NO_ANSWER_STATUS

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            method = method_label(scope["method"])
            route = route_template(scope) or UNMATCHED
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)


class UpstreamEndpoints:
    """Names a request to Replicate's API by method and path template, e.g.
    `GET /v1/predictions/{id}`: never an id. Anything else is `other`."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        self._origin = (parts.scheme, parts.netloc)
        self._prefix = parts.path
        self._templates = [
            (re.compile(re.escape(self._prefix) + re.sub(r"\{\w+\}", "[^/]+", path)), path)
            for path in REPLICATE_PATHS
        ]

    def name(self, request: httpx.Request) -> str:
        url = request.url
        if (url.scheme, url.netloc.decode("ascii")) != self._origin:
            return OTHER
        path = url.path.rstrip("/")
        template = next(
            (template for pattern, template in self._templates if pattern.fullmatch(path)), None
        )
        if template is None:
            return OTHER
        return f"{method_label(request.method)} {self._prefix}{template}"


class MeteredAsyncClient(httpx.AsyncClient):
    """An httpx client counting and timing every request it sends, by endpoint and status.

    Counted around `send` rather than in a transport (a client given a transport of its
    own ignores the proxy environment variables) or in event hooks (which never see a
    request that got no answer).
    """

    def __init__(self, endpoints: UpstreamEndpoints, **options: Any) -> None:
        super().__init__(**options)
        self._endpoints = endpoints

    async def send(self, request: httpx.Request, **options: Any) -> httpx.Response:
        endpoint = self._endpoints.name(request)
        started = time.perf_counter()
        status = "error"
        try:
            response = await super().send(request, **options)
            status = str(response.status_code)
            return response
        except httpx.TimeoutException:
            status = "timeout"
            raise
        finally:
            UPSTREAM_REQUESTS.labels(endpoint, status).inc()
            UPSTREAM_DURATION.labels(endpoint).observe(time.perf_counter() - started)
