"""GET /images/<id>?expires=…&signature=…: a stored image, for whoever holds a valid URL.

The URL's signature is the authority (an `<img>` tag sends no header); a bad or
expired one answers 403 and says nothing more. A valid URL of an image deleted since
answers 404. Local files are sent from here; an image
in a bucket is a redirect to the store's own presigned URL, valid no longer than ours.
"""

from typing import cast

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from domain.images import PRESIGNED_URL_MAX_SECONDS, ImageDelivery, image_size_from_query
from server.metrics import count_image_served
from server.runtime import Runtime

FORBIDDEN = PlainTextResponse("Forbidden", status_code=403)
GONE = PlainTextResponse("Not Found", status_code=404)


async def serve_image(request: Request) -> Response:
    runtime = cast(Runtime, request.app.state.runtime)
    image_id = request.path_params["image_id"]
    expires = request.query_params.get("expires")
    size = image_size_from_query(request.query_params.get("size"))
    if size is None or not runtime.services.image_urls.verify(
        image_id, expires, request.query_params.get("signature"), size
    ):
        return FORBIDDEN
    # A cached copy (or redirect) must not outlive the URL: past its expiry it answers 403.
    seconds_left = runtime.services.image_urls.seconds_left(expires or "0")
    max_age = min(seconds_left, PRESIGNED_URL_MAX_SECONDS)
    delivery = await runtime.services.generation.image(
        image_id, size=size, valid_for_seconds=max_age
    )
    if delivery is None:
        return GONE
    cache_control = f"private, max-age={max_age}, immutable"
    if delivery.redirect_to is not None:
        count_image_served(None)
        return _redirect(delivery.redirect_to, cache_control)
    response = _content(delivery, cache_control)
    if response.status_code == 200:
        count_image_served(len(response.body))
    return response


def _redirect(location: str, cache_control: str) -> Response:
    # 307: temporary (a permanent one would be cached past both URLs' expiry) and the
    # method is kept as is. The store learns nothing of the page that showed the image.
    return RedirectResponse(
        location,
        status_code=307,
        headers={"Cache-Control": cache_control, "Referrer-Policy": "no-referrer"},
    )


def _content(delivery: ImageDelivery, cache_control: str) -> Response:
    if delivery.content is None:
        return FORBIDDEN
    return Response(
        delivery.content,
        media_type=delivery.content_type,
        headers={"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"},
    )
