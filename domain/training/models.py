from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.job_status import JobStatus


class TrainingStatus(JobStatus):
    QUEUED = "QUEUED"
    STARTING = "STARTING"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


ACTIVE_TRAINING_STATUSES = frozenset(status for status in TrainingStatus if not status.is_terminal)


@dataclass(frozen=True, slots=True)
class TrainingJob:
    id: str
    user_id: str
    model_id: str
    status: TrainingStatus
    progress: float
    image_count: int
    replicate_training_id: str | None
    error: str | None
    upstream_error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    # The selfies' upload sent with the create request (None until it is sent).
    images_url: str | None = None
    # That upload's id on the provider's file store, until it is deleted there.
    upload_file_id: str | None = None


# A notice carries this much of the provider's error at most (notices stay small).
SNAPSHOT_ERROR_CHARS = 200


def job_snapshot(job: TrainingJob) -> dict[str, object]:
    """The job as plain JSON values, to announce it across processes."""
    return {
        "id": job.id,
        "user_id": job.user_id,
        "model_id": job.model_id,
        "status": job.status.value,
        "progress": job.progress,
        "image_count": job.image_count,
        "replicate_training_id": job.replicate_training_id,
        "error": job.error,
        "upstream_error": job.upstream_error[:SNAPSHOT_ERROR_CHARS] if job.upstream_error else None,
        "images_url": job.images_url,
        "upload_file_id": job.upload_file_id,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "completed_at": job.completed_at.isoformat() if job.completed_at else None,
        "updated_at": job.updated_at.isoformat(),
    }


def job_from_snapshot(data: dict[str, Any]) -> TrainingJob:
    def moment(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    created_at, updated_at = moment("created_at"), moment("updated_at")
    if created_at is None or updated_at is None:
        raise ValueError("a training job's snapshot without its created_at or updated_at")
    return TrainingJob(
        id=str(data["id"]),
        user_id=str(data["user_id"]),
        model_id=str(data["model_id"]),
        status=TrainingStatus(data["status"]),
        progress=float(data["progress"]),
        image_count=int(data["image_count"]),
        replicate_training_id=data.get("replicate_training_id"),
        error=data.get("error"),
        upstream_error=data.get("upstream_error"),
        images_url=data.get("images_url"),
        upload_file_id=data.get("upload_file_id"),
        created_at=created_at,
        started_at=moment("started_at"),
        completed_at=moment("completed_at"),
        updated_at=updated_at,
    )
