"""POST /webhooks/replicate: Replicate's signed reports about trainings.

The signature is verified on the raw body before anything is parsed; the job named
in the URL's query (put there when the training was created) gets the report.
"""

import json
import logging
from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.upstream import UpstreamRejected, UpstreamUnavailable
from replicate_client import (
    InvalidWebhook,
    prediction_from_json,
    training_from_json,
    verify_webhook,
)
from server.runtime import Runtime

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 8 * 1024 * 1024


def _answer(status_code: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status_code)


async def replicate_webhook(request: Request) -> Response:
    runtime = cast(Runtime, request.app.state.runtime)
    body = await _read_capped(request)
    if body is None:
        return _answer(413, "body too large")
    try:
        secret = await runtime.webhook_secret.get()
    except (UpstreamUnavailable, UpstreamRejected) as error:
        log.warning("webhook refused for now: no secret to verify it (%s)", error)
        return _answer(503, "cannot verify webhooks right now")
    try:
        webhook_id = verify_webhook(secret, request.headers, body)
    except InvalidWebhook as error:
        log.info("rejected a webhook: %s", error)
        return _answer(401, "invalid webhook signature")
    job_id = request.query_params.get("training_job")
    generation_id = request.query_params.get("generation")
    try:
        payload = json.loads(body)
        if job_id is not None:
            await runtime.services.training.apply(
                job_id, training_from_json(payload), webhook_id=webhook_id
            )
        elif generation_id is not None:
            await runtime.services.generation.apply(
                generation_id, prediction_from_json(payload), webhook_id=webhook_id
            )
        else:
            return _answer(400, "the webhook URL names no job")
    except (ValueError, TypeError) as error:
        return _answer(400, f"unreadable body: {error}")
    except UpstreamUnavailable as error:
        # Replicate retries terminal webhooks: let it come again.
        log.warning("webhook deferred: %s", error)
        return _answer(503, "try again later")
    return _answer(200, "ok")


async def _read_capped(request: Request) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
