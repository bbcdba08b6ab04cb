"""Sign-in for GraphQL multipart uploads, checked before a byte of the body is read.

Parsing a multipart body spools every file to disk; an upload from someone not signed
in is refused from its headers alone, with 401. The credentials found are handed on in
the scope, so the request context does not check the token again.
"""

from typing import cast

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.errors import ErrorCode
from request_context.context import Credentials
from schema.extensions import UNAUTHENTICATED_MESSAGE
from server.error_responses import send_error
from server.request_ids import bind_signed_in
from server.runtime import Runtime

CREDENTIALS_SCOPE_KEY = "sselfie.credentials"


def verified_credentials(scope: Scope) -> Credentials | None:
    """The credentials this middleware established for the request, if it ran."""
    found = scope.get(CREDENTIALS_SCOPE_KEY)
    return found if isinstance(found, Credentials) else None


def _is_upload(scope: Scope, paths: tuple[str, ...]) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in paths:
        return False
    content_type = Headers(scope=scope).get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


class UploadSignInMiddleware:
    def __init__(self, app: ASGIApp, *, paths: tuple[str, ...] = ("/graphql",)) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_upload(scope, self.paths):
            await self.app(scope, receive, send)
            return
        runtime = cast(Runtime, scope["app"].state.runtime)
        credentials = await runtime.authenticator.authenticate(
            Headers(scope=scope).get("authorization")
        )
        if credentials.user is None:
            await send_error(send, 401, UNAUTHENTICATED_MESSAGE, ErrorCode.UNAUTHENTICATED)
            return
        scope[CREDENTIALS_SCOPE_KEY] = credentials
        bind_signed_in(credentials)
        await self.app(scope, receive, send)
