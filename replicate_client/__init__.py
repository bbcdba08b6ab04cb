"""Replicate's HTTP API and webhooks: the adapter behind `domain.upstream.Replicate`."""

from replicate_client.client import ReplicateClient
from replicate_client.parsing import prediction_from_json, training_from_json
from replicate_client.webhooks import (
    InvalidWebhook,
    SecretUnavailable,
    WebhookSecret,
    new_webhook_secret,
    sign_webhook,
    verify_webhook,
)

__all__ = [
    "InvalidWebhook",
    "ReplicateClient",
    "SecretUnavailable",
    "WebhookSecret",
    "new_webhook_secret",
    "prediction_from_json",
    "sign_webhook",
    "training_from_json",
    "verify_webhook",
]
