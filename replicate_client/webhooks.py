"""Standard Webhooks signatures, as Replicate signs its webhooks.

Signed content: f"{webhook-id}.{webhook-timestamp}." + raw body, HMAC-SHA256 keyed with
the base64-decoded secret (after its `whsec_` prefix). The `webhook-signature` header
holds space-separated `v1,<base64>` entries; any one matching suffices.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping

from domain.errors import NotConfigured, UpstreamRejected, UpstreamUnavailable
from domain.upstream import Replicate

_SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
_SIGNATURE_VERSION = "v1"
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_HEADER_NAMES = ("webhook-id", "webhook-timestamp", "webhook-signature")


class InvalidWebhook(Exception):
    """The webhook is not provably from Replicate: answer 4xx and ignore its body."""


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: int = 300,
) -> str:
    """The webhook's `webhook-id` (its de-duplication key) once its signature checks out.

    Raises InvalidWebhook for missing headers, a timestamp more than `tolerance_seconds`
    off (either way), or no matching signature. Raises ValueError for a malformed secret
    (a configuration fault, not the sender's).
    """
    key = _secret_key(secret)
    webhook_id, timestamp, signatures = _signature_headers(headers)
    _check_timestamp(timestamp, time.time() if now is None else now, tolerance_seconds)
    expected = _digest(key, webhook_id, timestamp, body).encode()
    if not any(hmac.compare_digest(expected, candidate) for candidate in _candidates(signatures)):
        raise InvalidWebhook("No webhook signature matches")
    return webhook_id


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` entry of a `webhook-signature` header for this webhook."""
    return f"{_SIGNATURE_VERSION},{_digest(_secret_key(secret), webhook_id, str(timestamp), body)}"


def new_webhook_secret() -> str:
    """A fresh secret in Replicate's format: "whsec_" + base64 of 32 random bytes."""
    return _SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix(_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("The webhook secret is not valid base64 after 'whsec_'") from None
    if not key:
        raise ValueError("The webhook secret is empty")
    return key


def _signature_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    lowered = {name.lower(): value for name, value in headers.items()}
    values = [lowered.get(name, "").strip() for name in _HEADER_NAMES]
    missing = [name for name, value in zip(_HEADER_NAMES, values, strict=True) if not value]
    if missing:
        raise InvalidWebhook(f"Missing webhook header(s): {', '.join(missing)}")
    return values[0], values[1], values[2]


def _check_timestamp(timestamp: str, now: float, tolerance_seconds: int) -> None:
    if not _TIMESTAMP.fullmatch(timestamp):
        raise InvalidWebhook("The webhook timestamp is not an integer")
    if abs(now - int(timestamp)) > tolerance_seconds:
        raise InvalidWebhook("The webhook timestamp is too far from now")


def _candidates(signatures: str) -> list[bytes]:
    """The `v1` signatures of the header, as ASCII bytes (other versions are ignored)."""
    found = []
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == _SIGNATURE_VERSION and value and value.isascii():
            found.append(value.encode())
    return found


def _digest(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of the signed content (the part after `v1,`)."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


class SecretUnavailable(Exception):
    """No secret to verify webhooks with right now: answer 503 so Replicate retries."""


class WebhookSecret:
    """REPLICATE_WEBHOOK_SECRET, or the account's secret fetched once from the API.

    Fetches are throttled: one at a time, and after a failed one none for
    `retry_after_seconds` (every webhook meanwhile is refused with SecretUnavailable).
    """

    def __init__(
        self,
        replicate: Replicate,
        configured: str | None,
        *,
        retry_after_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._replicate = replicate
        self._secret = configured
        self._lock = asyncio.Lock()
        self._retry_after = retry_after_seconds
        self._clock = clock
        self._failed_at: float | None = None

    async def get(self) -> str:
        if self._secret is not None:
            return self._secret
        async with self._lock:
            if self._secret is None:
                self._secret = await self._fetch()
        return self._secret

    async def _fetch(self) -> str:
        now = self._clock()
        if self._failed_at is not None and now - self._failed_at < self._retry_after:
            raise SecretUnavailable("the webhook secret could not be fetched lately")
        try:
            return await self._replicate.webhook_secret()
        except (UpstreamUnavailable, UpstreamRejected, NotConfigured) as error:
            self._failed_at = self._clock()
            raise SecretUnavailable(f"the webhook secret could not be fetched: {error}") from error
