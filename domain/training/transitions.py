"""The training state machine: what an upstream report does to a job. Pure: no I/O."""

from dataclasses import replace
from datetime import datetime

from domain.training.models import TrainingJob, TrainingStatus
from domain.training.progress import progress_from_logs
from domain.upstream import UpstreamStatus, UpstreamTraining

_STATUS_FROM_UPSTREAM = {
    UpstreamStatus.STARTING: TrainingStatus.STARTING,
    UpstreamStatus.PROCESSING: TrainingStatus.PROCESSING,
    UpstreamStatus.SUCCEEDED: TrainingStatus.SUCCEEDED,
    UpstreamStatus.FAILED: TrainingStatus.FAILED,
    UpstreamStatus.CANCELED: TrainingStatus.CANCELED,
}

FAILED_MESSAGE = (
    "The training failed on the provider's side. Start a new training to try again; "
    "clear, well-lit selfies of only you help."
)
CANCELED_MESSAGE = "The training was canceled. Start a new training whenever you are ready."
KEPT_PREVIOUS_VERSION = " Your previous model stays in use until a new training succeeds."


def advance(job: TrainingJob, upstream: UpstreamTraining, now: datetime) -> TrainingJob:
    """The job after this report: statuses only move forward, progress never decreases.

    A job that ended before its training was known still records the training's id.
    """
    if job.status.is_terminal:
        return replace(job, replicate_training_id=job.replicate_training_id or upstream.id)
    reported = _STATUS_FROM_UPSTREAM[upstream.status]
    status = reported if reported.rank > job.status.rank else job.status
    progress = max(job.progress, progress_from_logs(upstream.logs) or 0.0)
    if status is TrainingStatus.SUCCEEDED:
        progress = 1.0
    started_at = job.started_at
    if started_at is None and status.rank >= TrainingStatus.PROCESSING.rank:
        started_at = upstream.started_at or now
    return replace(
        job,
        status=status,
        progress=progress,
        replicate_training_id=job.replicate_training_id or upstream.id,
        started_at=started_at,
        completed_at=(upstream.completed_at or now) if status.is_terminal else None,
        upstream_error=upstream.error if status is TrainingStatus.FAILED else job.upstream_error,
    )


def user_error(status: TrainingStatus, *, has_previous_version: bool) -> str | None:
    """What the user reads about a failed or canceled training."""
    suffix = KEPT_PREVIOUS_VERSION if has_previous_version else ""
    if status is TrainingStatus.FAILED:
        return FAILED_MESSAGE + suffix
    if status is TrainingStatus.CANCELED:
        return CANCELED_MESSAGE + suffix
    return None


def changed(before: TrainingJob, after: TrainingJob) -> bool:
    return (before.status, before.progress, before.replicate_training_id) != (
        after.status,
        after.progress,
        after.replicate_training_id,
    )
