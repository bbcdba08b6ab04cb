"""POST /webhooks/replicate: Replicate's signed reports about trainings and predictions.

In order, each step refusing before the next costs anything: the URL names one job and
carries that job's token (put there when the job was created; 403 otherwise); the body
is read up to 1 MB (413 beyond); its Standard Webhooks signature is verified on the raw
bytes (401); only then is it parsed and applied to the job the URL names.
"""

import json
import logging
from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.errors import UpstreamRejected, UpstreamUnavailable
from domain.upstream import UnconfirmedReport, WebhookOutcome
from domain.webhook_links import TOKEN_PARAMETER, WebhookKind
from replicate_client import (
    InvalidWebhook,
    SecretUnavailable,
    prediction_from_json,
    training_from_json,
    verify_webhook,
)
from server.metrics import WebhookVerdict, count_webhook
from server.runtime import Runtime

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024
SECRET_RETRY_AFTER_SECONDS = 30


_VERDICTS = {
    WebhookOutcome.APPLIED: WebhookVerdict.ACCEPTED,
    WebhookOutcome.DUPLICATE: WebhookVerdict.DUPLICATE,
    WebhookOutcome.UNKNOWN_JOB: WebhookVerdict.UNKNOWN_JOB,
}


class _BodyTooLarge(Exception):
    pass


def _answer(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"message": message}, status_code=status_code, headers=headers)


async def replicate_webhook(request: Request) -> Response:
    runtime = cast(Runtime, request.app.state.runtime)
    target = _named_job(request)
    if target is None:
        count_webhook(None, WebhookVerdict.UNKNOWN_JOB)
        return _answer(400, "the webhook URL names no job")
    kind, job_id = target
    token = request.query_params.get(TOKEN_PARAMETER, "")
    if not runtime.webhook_links.is_valid(kind, job_id, token):
        log.info("refused a webhook for %s %s: its URL token does not match", kind.value, job_id)
        count_webhook(kind.value, WebhookVerdict.BAD_TOKEN)
        return _answer(403, "the webhook URL's token does not match its job")
    try:
        body = await _read_capped(request)
    except _BodyTooLarge:
        count_webhook(kind.value, WebhookVerdict.TOO_LARGE)
        return _answer(413, f"the body is larger than {MAX_WEBHOOK_BYTES // 1024} KB")
    try:
        webhook_id = verify_webhook(await runtime.webhook_secret.get(), request.headers, body)
    except InvalidWebhook as error:
        log.info("rejected a webhook: %s", error)
        count_webhook(kind.value, WebhookVerdict.BAD_SIGNATURE)
        return _answer(401, "invalid webhook signature")
    except (SecretUnavailable, ValueError) as error:
        # ValueError: a malformed REPLICATE_WEBHOOK_SECRET, an operator's fault.
        log.warning("webhook refused for now: no secret to verify it with (%s)", error)
        count_webhook(kind.value, WebhookVerdict.DEFERRED)
        return _answer(
            503,
            "cannot verify webhooks right now",
            {"Retry-After": str(SECRET_RETRY_AFTER_SECONDS)},
        )
    return await _apply(runtime, kind, job_id, body, webhook_id)


def _named_job(request: Request) -> tuple[WebhookKind, str] | None:
    named = [(kind, request.query_params.get(kind.value)) for kind in WebhookKind]
    present = [(kind, job_id) for kind, job_id in named if job_id]
    return present[0] if len(present) == 1 else None


async def _apply(
    runtime: Runtime, kind: WebhookKind, job_id: str, body: bytes, webhook_id: str
) -> Response:
    try:
        payload = json.loads(body)
        if kind is WebhookKind.TRAINING:
            outcome = await runtime.services.training.apply_webhook(
                job_id, training_from_json(payload), webhook_id=webhook_id
            )
        else:
            outcome = await runtime.services.generation.apply_webhook(
                job_id, prediction_from_json(payload), webhook_id=webhook_id
            )
    except (ValueError, TypeError, AttributeError) as error:
        count_webhook(kind.value, WebhookVerdict.UNREADABLE)
        return _answer(400, f"unreadable body: {type(error).__name__}")
    except UnconfirmedReport:
        count_webhook(kind.value, WebhookVerdict.UNCONFIRMED)
        return _answer(409, "the provider does not confirm this report for this job")
    except (UpstreamUnavailable, UpstreamRejected) as error:
        # Replicate retries terminal webhooks: let it come again.
        log.warning("webhook deferred: %s", error)
        count_webhook(kind.value, WebhookVerdict.DEFERRED)
        return _answer(503, "try again later")
    count_webhook(kind.value, _VERDICTS[outcome])
    return _answer(200, "ok")


async def _read_capped(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
