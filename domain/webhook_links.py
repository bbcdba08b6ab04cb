"""Webhook URLs bound to their job: each carries an HMAC token of the job it names.

A body signed by Replicate for one job, posted to another job's URL, is then refused:
the token proves which job the URL was made for. The key is a server-held secret every
replica shares, so any replica checks what another signed.
"""

import base64
import hashlib
import hmac
from enum import StrEnum
from urllib.parse import parse_qs, urlencode, urlsplit

TOKEN_PARAMETER = "token"  # noqa: S105 - a query parameter's name, not a secret
# The name the URL key is kept under among the server's shared secrets.
KEY_NAME = "webhook_urls"
_TOKEN_BYTES = 24


class WebhookKind(StrEnum):
    """What a webhook URL names: its query parameter."""

    TRAINING = "training_job"
    GENERATION = "generation"


class WebhookLinks:
    def __init__(self, base_url: str | None, key: bytes) -> None:
        """`base_url`: `<PUBLIC_BASE_URL>/webhooks/replicate`, or None (no webhooks)."""
        if not key:
            raise ValueError("the webhook URL key is empty")
        self._base_url = base_url
        self._key = key

    def url_for(self, kind: WebhookKind, job_id: str) -> str | None:
        """The webhook URL for this job, or None when this server takes no webhooks."""
        if self._base_url is None:
            return None
        query = urlencode({kind.value: job_id, TOKEN_PARAMETER: self.token(kind, job_id)})
        return f"{self._base_url}?{query}"

    def token(self, kind: WebhookKind, job_id: str) -> str:
        message = f"{kind.value}={job_id}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:_TOKEN_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def is_valid(self, kind: WebhookKind, job_id: str, token: str) -> bool:
        """Whether `token` is this job's (compared in constant time)."""
        return hmac.compare_digest(self.token(kind, job_id).encode(), token.encode())


def job_id_in(webhook_url: str | None, kind: WebhookKind) -> str | None:
    """The job a webhook URL of ours names, or None."""
    if not webhook_url:
        return None
    values = parse_qs(urlsplit(webhook_url).query).get(kind.value)
    return values[0] if values else None
