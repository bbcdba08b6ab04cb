"""A Replicate-compatible fake HTTP server for tests (never used by the product)."""

from tests.fake_replicate.fake import FakeReplicate
from tests.fake_replicate.records import (
    TRAINER_MODEL,
    TRAINER_VERSION,
    Delivery,
    Job,
    RecordedRequest,
)
from tests.fake_replicate.serving import LoopbackServer
from tests.fake_replicate.webhooks import WebhookEvent, sign

__all__ = [
    "TRAINER_MODEL",
    "TRAINER_VERSION",
    "Delivery",
    "FakeReplicate",
    "Job",
    "LoopbackServer",
    "RecordedRequest",
    "WebhookEvent",
    "sign",
]
