"""CSRF protection for /graphql, as Apollo Server does it.

A browser can send a multipart, form or plain-text POST cross-site without a
preflight; such a request is refused unless it carries a header only a script
(after a preflight) could add.
"""

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.errors import ErrorCode
from server.error_responses import send_error

PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
CSRF_MESSAGE = (
    "This request has no `Content-Type: application/json`, so it must carry an "
    "`Apollo-Require-Preflight` or `X-Apollo-Operation-Name` header (CSRF protection)."
)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json"


class CsrfPreventionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not self._allowed(scope):
            await send_error(send, 400, CSRF_MESSAGE, ErrorCode.BAD_USER_INPUT)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _allowed(scope: Scope) -> bool:
        headers = Headers(scope=scope)
        if _is_json(headers.get("content-type", "")):
            return True
        return any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS)
