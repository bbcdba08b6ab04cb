"""GET /images/<id>?expires=…&signature=…: a stored image, for whoever holds a valid URL.

The URL's signature is the authority (an `<img>` tag sends no header); a bad or
expired one answers 403 and says nothing more.
"""

from typing import cast

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from server.runtime import Runtime

FORBIDDEN = PlainTextResponse("Forbidden", status_code=403)


async def serve_image(request: Request) -> Response:
    runtime = cast(Runtime, request.app.state.runtime)
    image_id = request.path_params["image_id"]
    expires = request.query_params.get("expires")
    if not runtime.services.image_urls.verify(
        image_id, expires, request.query_params.get("signature")
    ):
        return FORBIDDEN
    # A cached copy must not outlive the URL: past its expiry the URL answers 403.
    max_age = runtime.services.image_urls.seconds_left(expires or "0")
    delivery = await runtime.services.generation.image(image_id, valid_for_seconds=max_age)
    if delivery is None or delivery.content is None:
        return FORBIDDEN
    return Response(
        delivery.content,
        media_type=delivery.content_type,
        headers={
            "Cache-Control": f"private, max-age={max_age}, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )
