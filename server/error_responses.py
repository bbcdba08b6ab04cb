"""GraphQL-shaped error answers for requests refused before GraphQL sees them."""

import json

from starlette.types import Send

from domain.errors import ErrorCode


async def send_error(send: Send, status: int, message: str, code: ErrorCode) -> None:
    error = {"message": message, "extensions": {"code": code.value}}
    body = json.dumps({"errors": [error]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
