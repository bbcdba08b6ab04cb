"""A training job to build unit tests on."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from domain.training.models import TrainingJob, TrainingStatus

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

_QUEUED = TrainingJob(
    id="job-1",
    user_id="u1",
    model_id="m1",
    status=TrainingStatus.QUEUED,
    progress=0.0,
    image_count=10,
    replicate_training_id=None,
    error=None,
    upstream_error=None,
    created_at=NOW,
    started_at=None,
    completed_at=None,
    updated_at=NOW,
)


def training_job(**changes: Any) -> TrainingJob:
    """A job just recorded (queued, nothing sent yet, made at NOW); `changes` set any field."""
    return replace(_QUEUED, **changes)
