"""CORS for the paths a web app on another origin calls: `/graphql` and `/images/...`.

Starlette's `CORSMiddleware` does the protocol; this only keeps it off every other path
(a webhook or a health probe is never called from a browser page).
"""

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# What Apollo Client, apollo-upload-client and GraphiQL send.
ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "apollographql-client-name",
    "apollographql-client-version",
)
EXPOSED_HEADERS = ("Retry-After", "X-Request-Id")
PREFLIGHT_MAX_AGE_SECONDS = 600


def _browser_facing(path: str) -> bool:
    return path == "/graphql" or path.startswith("/images/")


class ApiCorsMiddleware:
    def __init__(self, app: ASGIApp, *, allowed_origins: tuple[str, ...]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=allowed_origins,
            allow_methods=("GET", "POST"),
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _browser_facing(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
