"""Replicate's HTTP API (the `domain.upstream.Replicate` port) over one shared httpx client.

Retry policy. A GET or a DELETE (both idempotent) is retried on 429, 5xx, any transport
error or timeout; a DELETE answered 404 finds nothing left to delete and counts as done.
A POST is retried only when it surely did not arrive (connection refused or timed out,
no pooled connection, or a 429): Replicate has no idempotency key, so re-sending a POST
that may have arrived could start a second, billed training or prediction. After an
ambiguous POST failure (read/write timeout, broken connection, 5xx) `UpstreamUnavailable`
is raised at once with `may_have_arrived=True`: the caller must find out what happened.
Waits follow `Retry-After` (seconds) when given, else exponential backoff with jitter,
both capped at `max_retry_after_seconds`. Retries exhausted: `UpstreamUnavailable`
(`may_have_arrived=False`); any other 4xx: `UpstreamRejected` with the provider's detail.
"""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime
from typing import Any, Literal, NoReturn, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from domain.errors import NotConfigured, UpstreamRejected, UpstreamUnavailable
from domain.upstream import (
    FileUpload,
    UploadedFile,
    UpstreamFile,
    UpstreamPrediction,
    UpstreamTraining,
)
from replicate_client.parsing import (
    file_from_json,
    prediction_from_json,
    training_from_json,
    version_id_from_json,
)

logger = logging.getLogger(__name__)
# A line per call, as an access log of what this server asked Replicate.
calls_logger = logging.getLogger("sselfie.upstream")

Method = Literal["GET", "POST", "DELETE"]
T = TypeVar("T")
_Listed = TypeVar("_Listed", UpstreamTraining, UpstreamPrediction, UpstreamFile)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
UPLOAD_TIMEOUT = httpx.Timeout(120.0, connect=5.0)

# Failures that prove the request never reached Replicate: safe to re-send a POST.
_NEVER_ARRIVED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_THROTTLED = 429
_MAX_DETAIL_CHARS = 300
_JITTER_FRACTION = 0.1
# A model's versions are read to the last page, but no further than this (a safeguard
# against a `next` that never ends): 10,000 versions at Replicate's 100 a page.
_MAX_VERSION_PAGES = 100
_random = random.SystemRandom()

_NOT_CONFIGURED = (
    "Image generation is not configured on this server: set REPLICATE_API_TOKEN "
    "to connect it to Replicate."
)


class ReplicateClient:
    """Every call of the `Replicate` port; see the module docstring for the retry rules."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        token: str | None,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        max_retry_after_seconds: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = token or None
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._max_wait = max_retry_after_seconds
        self._sleep = sleep

    # --- models -------------------------------------------------------------------

    async def get_model(self, owner: str, name: str) -> dict[str, Any] | None:
        return await self._get_json_or_none(f"/models/{_seg(owner)}/{_seg(name)}")

    async def create_model(self, owner: str, name: str, *, description: str) -> bool:
        """Creates a private model; False when the name is taken (409)."""
        payload = {
            "owner": owner,
            "name": name,
            "visibility": "private",
            "hardware": "cpu",
            "description": description,
        }
        response = await self._send("POST", "/models", json=payload, passthrough={409})
        return response.status_code != 409

    async def get_version_input_schema(
        self, owner: str, name: str, version_id: str
    ) -> dict[str, Any] | None:
        """`openapi_schema.components.schemas.Input.properties` ({} when absent), or None."""
        path = f"/models/{_seg(owner)}/{_seg(name)}/versions/{_seg(version_id)}"
        body = await self._get_json_or_none(path)
        if body is None:
            return None
        return _dig(body, "openapi_schema", "components", "schemas", "Input", "properties")

    async def list_model_versions(self, owner: str, name: str) -> list[str] | None:
        """The ids of every version of the model, following `next` to the last page;
        None when the model does not exist."""
        path = f"/models/{_seg(owner)}/{_seg(name)}/versions"
        page = await self._get_json_or_none(path)
        if page is None:
            return None
        version_ids = _page_results(page, version_id_from_json)
        for _ in range(_MAX_VERSION_PAGES - 1):
            target = self._next_page(page.get("next"))
            if target is None:
                break
            page = await self._get_json(target)
            version_ids.extend(_page_results(page, version_id_from_json))
        return list(dict.fromkeys(version_ids))

    async def delete_model_version(self, owner: str, name: str, version_id: str) -> None:
        """Deletes the version and every prediction made with it; an unknown version
        (404) counts as deleted."""
        await self._delete(f"/models/{_seg(owner)}/{_seg(name)}/versions/{_seg(version_id)}")

    async def delete_model(self, owner: str, name: str) -> None:
        """Deletes the model; while it has versions the provider refuses (UpstreamRejected
        with its reason). An unknown model (404) counts as deleted."""
        await self._delete(f"/models/{_seg(owner)}/{_seg(name)}")

    # --- files --------------------------------------------------------------------

    async def upload_file(self, upload: FileUpload) -> UploadedFile:
        """The file's id (to delete it) and `urls.get` (to pass as a training's input)."""
        response = await self._send(
            "POST",
            "/files",
            files={"content": (upload.filename, upload.content, upload.content_type)},
            data={"filename": upload.filename, "type": upload.content_type},
            request_timeout=UPLOAD_TIMEOUT,
        )
        body = self._json("POST", "/files", response)
        file_id, url = body.get("id"), _dig(body, "urls").get("get")
        if not isinstance(file_id, str) or not file_id or not isinstance(url, str) or not url:
            _unexpected_answer("POST", "/files")
        return UploadedFile(id=file_id, url=url)

    async def delete_file(self, file_id: str) -> None:
        """Deletes an uploaded file; an unknown file (404) counts as deleted."""
        await self._delete(f"/files/{_seg(file_id)}")

    async def list_files(self, *, max_pages: int = 10) -> list[UpstreamFile]:
        """The account's files, newest first, following `next` up to `max_pages`."""
        return await self._list("/files", file_from_json, max_pages, None)

    # --- trainings ----------------------------------------------------------------

    async def create_training(
        self,
        *,
        trainer_version: str,
        destination: str,
        input: dict[str, Any],
        webhook: str | None,
        webhook_events: list[str],
    ) -> UpstreamTraining:
        owner, name, version_id = _split_version(trainer_version)
        path = f"/models/{_seg(owner)}/{_seg(name)}/versions/{_seg(version_id)}/trainings"
        payload = {"destination": destination, "input": input}
        payload.update(_webhook_fields(webhook, webhook_events))
        return await self._post_object(path, payload, training_from_json)

    async def get_training(self, training_id: str) -> UpstreamTraining | None:
        path = f"/trainings/{_seg(training_id)}"
        body = await self._get_json_or_none(path)
        return None if body is None else _parsed(training_from_json, body, "GET", path)

    async def list_trainings(
        self, *, max_pages: int = 1, created_after: datetime | None = None
    ) -> list[UpstreamTraining]:
        """The most recent trainings, newest first, following `next` up to `max_pages`
        and no further than a page reaching one created before `created_after`."""
        return await self._list("/trainings", training_from_json, max_pages, created_after)

    async def cancel_training(self, training_id: str) -> UpstreamTraining:
        path = f"/trainings/{_seg(training_id)}/cancel"
        return await self._post_object(path, None, training_from_json)

    # --- predictions --------------------------------------------------------------

    async def create_prediction(
        self,
        *,
        version: str,
        input: dict[str, Any],
        webhook: str | None,
        webhook_events: list[str],
    ) -> UpstreamPrediction:
        payload = {"version": version, "input": input}
        payload.update(_webhook_fields(webhook, webhook_events))
        return await self._post_object("/predictions", payload, prediction_from_json)

    async def get_prediction(self, prediction_id: str) -> UpstreamPrediction | None:
        path = f"/predictions/{_seg(prediction_id)}"
        body = await self._get_json_or_none(path)
        return None if body is None else _parsed(prediction_from_json, body, "GET", path)

    async def list_predictions(
        self, *, max_pages: int = 1, created_after: datetime | None = None
    ) -> list[UpstreamPrediction]:
        """As `list_trainings`, for predictions."""
        return await self._list("/predictions", prediction_from_json, max_pages, created_after)

    async def cancel_prediction(self, prediction_id: str) -> UpstreamPrediction:
        path = f"/predictions/{_seg(prediction_id)}/cancel"
        return await self._post_object(path, None, prediction_from_json)

    # --- webhooks -----------------------------------------------------------------

    async def webhook_secret(self) -> str:
        path = "/webhooks/default/secret"
        key = (await self._get_json(path)).get("key")
        if not isinstance(key, str) or not key:
            _unexpected_answer("GET", path)
        return key

    # --- JSON helpers -------------------------------------------------------------

    async def _list(
        self,
        collection: str,
        parse: Callable[[Mapping[str, Any]], _Listed],
        max_pages: int,
        created_after: datetime | None,
    ) -> list[_Listed]:
        listed: list[_Listed] = []
        target: str | None = collection
        for _ in range(max_pages):
            if target is None:
                break
            page = await self._get_json(target)
            results = _page_results(page, parse)
            listed.extend(results)
            if created_after is not None and _reaches_before(results, created_after):
                break
            target = self._next_page(page.get("next"))
        return listed

    async def _delete(self, path: str) -> None:
        await self._send("DELETE", path, passthrough={404})

    async def _get_json(self, target: str) -> dict[str, Any]:
        return self._json("GET", target, await self._send("GET", target))

    async def _get_json_or_none(self, target: str) -> dict[str, Any] | None:
        response = await self._send("GET", target, passthrough={404})
        return None if response.status_code == 404 else self._json("GET", target, response)

    async def _post_object(
        self,
        path: str,
        payload: dict[str, Any] | None,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> T:
        response = await self._send("POST", path, json=payload)
        return _parsed(parse, self._json("POST", path, response), "POST", path)

    def _json(self, method: Method, target: str, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            _unexpected_answer(method, target)
        return body

    def _next_page(self, next_url: object) -> str | None:
        """The next page's URL, only when it points into our own base URL (the token goes along)."""
        if not isinstance(next_url, str) or not next_url:
            return None
        if not next_url.startswith(self._base_url + "/"):
            logger.warning("Replicate: not following a next page outside the API base URL")
            return None
        return next_url

    # --- one request, with the retry policy ---------------------------------------

    async def _send(
        self,
        method: Method,
        target: str,
        *,
        passthrough: Collection[int] = (),
        request_timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        **content: Any,
    ) -> httpx.Response:
        """The response (2xx, or a status in `passthrough`) after retrying what may be retried.

        `target` is a path under the base URL, or an absolute URL under it (a next page).
        """
        headers = self._auth_headers()
        url = target if target.startswith(self._base_url) else self._base_url + target
        reason = ""
        for attempt in range(self._max_attempts):
            started = time.perf_counter()
            try:
                response = await self._http.request(
                    method, url, headers=headers, timeout=request_timeout, **content
                )
            except httpx.RequestError as exc:
                _log_call(method, url, started, attempt + 1, failure=type(exc).__name__)
                reason = self._transport_failure(method, target, exc)
                wait = self._backoff(attempt)
            else:
                _log_call(method, url, started, attempt + 1, response=response)
                if response.is_success or response.status_code in passthrough:
                    return response
                reason = self._status_failure(method, target, response)
                retry_after = self._retry_after(response)
                wait = self._backoff(attempt) if retry_after is None else retry_after
            if attempt + 1 < self._max_attempts:
                logger.info(
                    "Replicate %s %s failed (%s); retrying in %.1f s (attempt %d of %d)",
                    method,
                    target,
                    reason,
                    wait,
                    attempt + 2,
                    self._max_attempts,
                )
                await self._sleep(wait)
        raise _exhausted(method, target, reason)

    def require_configured(self) -> None:
        if self._token is None:
            raise NotConfigured(_NOT_CONFIGURED)

    def _auth_headers(self) -> dict[str, str]:
        self.require_configured()
        return {"Authorization": f"Bearer {self._token}"}

    def _transport_failure(self, method: Method, target: str, exc: httpx.RequestError) -> str:
        """The reason to retry `exc`; raises when a POST may have arrived."""
        reason = type(exc).__name__
        logger.debug("Replicate %s %s: %s: %s", method, target, reason, self._redact(str(exc)))
        if method == "POST" and not isinstance(exc, _NEVER_ARRIVED):
            _may_have_arrived(method, target, reason)
        return reason

    def _status_failure(self, method: Method, target: str, response: httpx.Response) -> str:
        """The reason to retry this answer; raises when it is final or a POST may have arrived."""
        status = response.status_code
        reason = f"HTTP {status}"
        if status == _THROTTLED:
            return reason
        if status >= 500:
            if method == "POST":
                _may_have_arrived(method, target, reason)
            return reason
        raise UpstreamRejected(status, self._redact(_problem_detail(response)))

    def _retry_after(self, response: httpx.Response) -> float | None:
        """`Retry-After` in seconds, capped; None when absent or not a number of seconds."""
        try:
            seconds = float(response.headers.get("Retry-After", ""))
        except ValueError:
            return None
        if seconds != seconds or seconds < 0:  # NaN or negative
            return None
        return min(seconds, self._max_wait)

    def _backoff(self, attempt: int) -> float:
        delay = self._backoff_seconds * 2.0**attempt
        delay += _random.uniform(0, delay * _JITTER_FRACTION)
        return min(delay, self._max_wait)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text


def _log_call(
    method: Method,
    url: str,
    started: float,
    attempt: int,
    *,
    response: httpx.Response | None = None,
    failure: str | None = None,
) -> None:
    """One line per request sent: the path (no query), status or failure, duration, attempt,
    and the provider's request id when its answer names one."""
    path = urlsplit(url).path
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    status = response.status_code if response is not None else None
    provider_request_id = _provider_request_id(response) if response is not None else None
    fields = {
        "method": method,
        "path": path,
        "status": status,
        "failure": failure,
        "duration_ms": duration_ms,
        "attempt": attempt,
        "provider_request_id": provider_request_id,
    }
    calls_logger.info(
        "Replicate %s %s %s in %.1f ms (attempt %d)",
        method,
        path,
        status if status is not None else failure,
        duration_ms,
        attempt,
        extra={name: value for name, value in fields.items() if value is not None},
    )


def _provider_request_id(response: httpx.Response) -> str | None:
    """A `…request-id` header's value (`x-request-id`, `replicate-request-id`, …), if any."""
    for name, value in response.headers.items():
        if name.lower().endswith("request-id"):
            return value
    return None


def _may_have_arrived(method: Method, target: str, reason: str) -> NoReturn:
    logger.warning(
        "Replicate %s %s failed after sending (%s); not retrying", method, target, reason
    )
    raise UpstreamUnavailable(
        f"The image provider did not confirm the request ({reason}). It may have been "
        "received, so it was not sent again; its outcome is being checked.",
        may_have_arrived=True,
    )


def _exhausted(method: Method, target: str, reason: str) -> UpstreamUnavailable:
    logger.warning("Replicate %s %s failed (%s); giving up", method, target, reason)
    nothing_started = "; nothing was started" if method == "POST" else ""
    return UpstreamUnavailable(
        f"The image provider is unavailable right now ({reason}){nothing_started}. "
        "Try again in a minute.",
        may_have_arrived=False,
    )


def _unexpected_answer(method: Method, target: str) -> NoReturn:
    logger.warning("Replicate %s %s gave an unexpected answer", method, target)
    raise UpstreamUnavailable(
        "The image provider gave an unexpected answer. Try again in a minute.",
        # A POST that was answered at all has arrived.
        may_have_arrived=method == "POST",
    )


def _parsed(
    parse: Callable[[Mapping[str, Any]], T], body: Mapping[str, Any], method: Method, target: str
) -> T:
    try:
        return parse(body)
    except ValueError:
        _unexpected_answer(method, target)


def _problem_detail(response: httpx.Response) -> str:
    """A problem+json's `detail` (or `title`), else the text, else the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return _shorten(value)
    text = response.text.strip()
    return _shorten(text) if text else response.reason_phrase or f"HTTP {response.status_code}"


def _shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_DETAIL_CHARS else text[: _MAX_DETAIL_CHARS - 1] + "…"


def _page_results(page: Mapping[str, Any], parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
    """The page's objects; an entry that cannot be parsed is skipped (and logged)."""
    results = page.get("results")
    parsed = []
    for entry in results if isinstance(results, list) else []:
        try:
            parsed.append(parse(entry if isinstance(entry, dict) else {}))
        except ValueError as exc:
            logger.warning("Replicate: skipping a listed object: %s", exc)
    return parsed


def _reaches_before(results: list[_Listed], moment: datetime) -> bool:
    return any(item.created_at is not None and item.created_at < moment for item in results)


def _webhook_fields(webhook: str | None, events: list[str]) -> dict[str, Any]:
    if webhook is None:
        return {}
    fields: dict[str, Any] = {"webhook": webhook}
    if events:
        fields["webhook_events_filter"] = list(events)
    return fields


def _split_version(trainer_version: str) -> tuple[str, str, str]:
    """Split "owner/name:versionid" into (owner, name, versionid)."""
    model, _, version_id = trainer_version.partition(":")
    owner, _, name = model.partition("/")
    if not (owner and name and version_id) or "/" in name:
        raise ValueError(f"Expected 'owner/name:version', got {trainer_version!r}")
    return owner, name, version_id


def _dig(body: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """The nested object at `keys`, or {} when any step is missing or not an object."""
    current: object = body
    for key in keys:
        current = current.get(key) if isinstance(current, Mapping) else None
    return dict(current) if isinstance(current, Mapping) else {}


def _seg(value: str) -> str:
    """One URL path segment, escaped so that an id can never change the path."""
    return quote(value, safe="")
