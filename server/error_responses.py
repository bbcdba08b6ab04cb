"""GraphQL-shaped error answers for requests refused before GraphQL sees them."""

import json

from starlette.types import Send

from domain.errors import ErrorCode
from server.request_ids import current_request_id


async def send_error(send: Send, status: int, message: str, code: ErrorCode) -> None:
    extensions = {"code": code.value}
    if (request_id := current_request_id()) is not None:
        extensions["requestId"] = request_id
    error = {"message": message, "extensions": extensions}
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
