"""Standard Webhooks verification, as Replicate signs its webhooks."""

import base64
import hashlib
import hmac
from typing import cast

import pytest

from domain.errors import NotConfigured, UpstreamRejected, UpstreamUnavailable
from domain.upstream import Replicate
from replicate_client import (
    InvalidWebhook,
    SecretUnavailable,
    WebhookSecret,
    new_webhook_secret,
    sign_webhook,
    verify_webhook,
)

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
NOW = 1_795_000_000
BODY = b'{"id":"zz4ibbonubfz7carwiefibzgga","status":"succeeded"}'
WEBHOOK_ID = "msg_2kTDmKfZkQ"


def headers(
    *, secret: str = SECRET, timestamp: int = NOW, body: bytes = BODY, signature: str | None = None
) -> dict[str, str]:
    return {
        "webhook-id": WEBHOOK_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature or sign_webhook(secret, WEBHOOK_ID, timestamp, body),
    }


def test_a_valid_signature_returns_the_webhook_id() -> None:
    assert verify_webhook(SECRET, headers(), BODY, now=NOW) == WEBHOOK_ID


def test_the_signature_is_standard_webhooks_hmac() -> None:
    key = b"0123456789abcdef0123456789abcdef"
    digest = hmac.new(key, f"{WEBHOOK_ID}.{NOW}.".encode() + BODY, hashlib.sha256).digest()

    assert sign_webhook(SECRET, WEBHOOK_ID, NOW, BODY) == "v1," + base64.b64encode(digest).decode()


def test_header_names_are_case_insensitive() -> None:
    mixed = {name.title(): value for name, value in headers().items()}

    assert verify_webhook(SECRET, mixed, BODY, now=NOW) == WEBHOOK_ID


def test_timestamps_within_tolerance_are_accepted() -> None:
    assert verify_webhook(SECRET, headers(), BODY, now=NOW + 300) == WEBHOOK_ID
    assert verify_webhook(SECRET, headers(), BODY, now=NOW - 300) == WEBHOOK_ID


def test_any_matching_signature_suffices() -> None:
    wrong = sign_webhook(new_webhook_secret(), WEBHOOK_ID, NOW, BODY)
    right = sign_webhook(SECRET, WEBHOOK_ID, NOW, BODY)

    signed = headers(signature=f"{wrong} {right}")

    assert verify_webhook(SECRET, signed, BODY, now=NOW) == WEBHOOK_ID


def test_a_signature_with_another_version_prefix_does_not_count() -> None:
    digest = sign_webhook(SECRET, WEBHOOK_ID, NOW, BODY).removeprefix("v1,")

    with pytest.raises(InvalidWebhook):
        verify_webhook(SECRET, headers(signature=f"v1a,{digest}"), BODY, now=NOW)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(InvalidWebhook):
        verify_webhook(new_webhook_secret(), headers(), BODY, now=NOW)


def test_tampered_body_is_rejected() -> None:
    with pytest.raises(InvalidWebhook):
        verify_webhook(SECRET, headers(), BODY.replace(b"succeeded", b"failed"), now=NOW)


def test_tampered_id_is_rejected() -> None:
    forged = headers() | {"webhook-id": "msg_other"}

    with pytest.raises(InvalidWebhook):
        verify_webhook(SECRET, forged, BODY, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamp_too_far_from_now_is_rejected(offset: int) -> None:
    # Correctly signed, but sent 301 s before (stale) or after (future) now.
    signed = headers(timestamp=NOW + offset)

    with pytest.raises(InvalidWebhook, match="timestamp"):
        verify_webhook(SECRET, signed, BODY, now=NOW)


@pytest.mark.parametrize("timestamp", ["", "abc", "1795000000.5", "-1795000000", "1e9"])
def test_non_integer_timestamp_is_rejected(timestamp: str) -> None:
    bad = headers() | {"webhook-timestamp": timestamp}

    with pytest.raises(InvalidWebhook):
        verify_webhook(SECRET, bad, BODY, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_rejected(missing: str) -> None:
    partial = {name: value for name, value in headers().items() if name != missing}

    with pytest.raises(InvalidWebhook, match=missing):
        verify_webhook(SECRET, partial, BODY, now=NOW)


@pytest.mark.parametrize("signature", ["garbage", "v1,", "v1,not base64 at all", "v1,é€", ","])
def test_garbage_signature_is_rejected(signature: str) -> None:
    with pytest.raises(InvalidWebhook):
        verify_webhook(SECRET, headers(signature=signature), BODY, now=NOW)


def test_a_malformed_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        verify_webhook("whsec_!!!", headers(), BODY, now=NOW)


def test_new_secrets_are_random_32_byte_whsec_keys() -> None:
    first, second = new_webhook_secret(), new_webhook_secret()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert first != second
    signed = headers(secret=first)
    assert verify_webhook(first, signed, BODY, now=NOW) == WEBHOOK_ID


class _SecretSource:
    """The one call WebhookSecret makes of the port: failing `failures` times first."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def webhook_secret(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "whsec_" + "QUJD" * 8


@pytest.mark.parametrize(
    "error",
    [
        UpstreamUnavailable("down"),
        UpstreamRejected(401, "no"),
        NotConfigured("no token"),
    ],
)
async def test_a_failed_secret_fetch_is_not_retried_before_the_pause(error: Exception) -> None:
    now = [1000.0]
    source = _SecretSource(failures=1, error=error)
    secret = WebhookSecret(
        cast(Replicate, source), None, retry_after_seconds=30, clock=lambda: now[0]
    )

    with pytest.raises(SecretUnavailable):
        await secret.get()
    now[0] += 29
    with pytest.raises(SecretUnavailable):
        await secret.get()
    calls_during_pause = source.calls
    now[0] += 2
    fetched = await secret.get()
    again = await secret.get()

    assert calls_during_pause == 1
    assert fetched == again == "whsec_" + "QUJD" * 8
    assert source.calls == 2


async def test_a_configured_secret_is_never_fetched() -> None:
    source = _SecretSource(failures=0, error=RuntimeError())
    secret = WebhookSecret(cast(Replicate, source), "whsec_configured")

    assert await secret.get() == "whsec_configured"
    assert source.calls == 0
