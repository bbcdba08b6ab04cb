"""Caps request bodies before anything reads them: an upload past the selfie limits, or a
JSON document no GraphQL operation needs, is refused with 413 while it streams in."""

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import ErrorCode
from server.error_responses import send_error

MIB = 1024 * 1024
MAX_JSON_BYTES = 1 * MIB
# 200 MB of selfies in all, plus the multipart framing around 30 files.
MAX_MULTIPART_BYTES = 201 * MIB


class BodyTooLarge(Exception):
    pass


def _limit_for(headers: Headers) -> int:
    if headers.get("content-type", "").lower().startswith("multipart/"):
        return MAX_MULTIPART_BYTES
    return MAX_JSON_BYTES


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, paths: tuple[str, ...] = ("/graphql",)) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = _limit_for(headers)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    message = f"The request is larger than {limit // MIB} MB."
    await send_error(send, 413, message, ErrorCode.BAD_USER_INPUT)
