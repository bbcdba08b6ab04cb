"""Trainings as a kind of upstream job: what the engine (domain.upstream_jobs) does with a
training job, and what a training's ending does to the user's model."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from domain.ports import TrainingJobRepository, UnitOfWork, UnitOfWorkFactory
from domain.training.models import TrainingJob, TrainingStatus
from domain.training.transitions import advance, changed, user_error
from domain.training.versions import VersionInputs, read_version_inputs, version_id_from
from domain.upstream import Replicate, UpstreamStatus, UpstreamTraining
from domain.upstream_jobs.kind import LocalEnd, Settle
from domain.users.models import ModelStatus, UserModel
from domain.webhook_links import WebhookKind, job_id_in

START_FAILED_MESSAGE = (
    "The training could not be started because the image provider is unavailable. "
    "Nothing was charged; upload your selfies again in a few minutes."
)
LOST_START_MESSAGE = (
    "The training could not be started. Nothing was charged; upload your selfies again."
)
CANCEL_FAILED_MESSAGE = (
    "The training could not be canceled because the image provider did not accept the "
    "request. It is still running; try canceling again in a minute."
)


class TrainingKind:
    name = "training"
    upstream_name = "training"
    webhook_kind = WebhookKind.TRAINING
    start_failed_message = START_FAILED_MESSAGE
    cancel_failed_message = CANCEL_FAILED_MESSAGE
    lost_start = LocalEnd(message=LOST_START_MESSAGE)

    def __init__(
        self, uow: UnitOfWorkFactory, replicate: Replicate, start_grace: timedelta
    ) -> None:
        self._uow = uow
        self._replicate = replicate
        # A job canceled while its create request may have arrived is looked for this long.
        self._orphan_search_seconds = 2 * start_grace.total_seconds()

    def jobs(self, uow: UnitOfWork) -> TrainingJobRepository:
        return uow.training_jobs

    async def claim_stale(
        self, uow: UnitOfWork, *, silent_for_seconds: float, lease_seconds: float, limit: int
    ) -> list[TrainingJob]:
        return await uow.training_jobs.claim_stale(
            silent_for_seconds=silent_for_seconds,
            lease_seconds=lease_seconds,
            limit=limit,
            canceled_unconfirmed_for_seconds=self._orphan_search_seconds,
        )

    def upstream_id(self, job: TrainingJob) -> str | None:
        return job.replicate_training_id

    def with_upstream_id(self, job: TrainingJob, upstream_id: str) -> TrainingJob:
        return replace(job, replicate_training_id=upstream_id)

    def may_have_been_sent(self, job: TrainingJob) -> bool:
        # The upload is recorded just before the create request goes out.
        return job.images_url is not None

    def is_own(self, job: TrainingJob, report: UpstreamTraining) -> bool:
        return is_jobs_training(job, report)

    async def fetch(self, upstream_id: str) -> UpstreamTraining | None:
        return await self._replicate.get_training(upstream_id)

    async def list_recent(
        self, *, max_pages: int, created_after: datetime
    ) -> list[UpstreamTraining]:
        return await self._replicate.list_trainings(
            max_pages=max_pages, created_after=created_after
        )

    async def cancel(self, upstream_id: str) -> UpstreamTraining:
        return await self._replicate.cancel_training(upstream_id)

    def as_canceled(self, report: UpstreamTraining) -> UpstreamTraining:
        return replace(report, status=UpstreamStatus.CANCELED)

    def advance(self, job: TrainingJob, report: UpstreamTraining, now: datetime) -> TrainingJob:
        return advance(job, report, now)

    def changed(self, before: TrainingJob, after: TrainingJob) -> bool:
        return changed(before, after)

    async def prepare(self, job_id: str, report: UpstreamTraining) -> Settle[TrainingJob]:
        """A succeeded training's version inputs are read first (raising
        UpstreamUnavailable while they cannot be); the job's ending then settles its model."""
        version_inputs = await self._version_inputs_if_succeeded(job_id, report)

        async def settle(uow: UnitOfWork, before: TrainingJob, after: TrainingJob) -> TrainingJob:
            if after.status.is_terminal and not before.status.is_terminal:
                await _delete_upload_later(uow, after)
                return await _settle_model(uow, after, report, version_inputs)
            return after

        return settle

    async def end_locally(
        self, uow: UnitOfWork, job: TrainingJob, end: LocalEnd, now: datetime
    ) -> TrainingJob:
        """Ended with no version: a model that never had one is FAILED."""
        status = TrainingStatus.CANCELED if end.canceled else TrainingStatus.FAILED
        await _delete_upload_later(uow, job)
        model = await uow.user_models.for_user(job.user_id, lock=True)
        has_version = bool(model and model.replicate_version_id)
        if model is not None and not has_version:
            await uow.user_models.save(replace(model, status=ModelStatus.FAILED))
        return replace(
            job,
            status=status,
            completed_at=now,
            error=end.message or user_error(status, has_previous_version=has_version),
            upstream_error=end.upstream_error,
        )

    async def announce(self, uow: UnitOfWork, job: TrainingJob) -> None:
        await uow.events.training_changed(job)

    def has_local_work(self, job: TrainingJob) -> bool:
        return False

    async def queue_local_work(self, uow: UnitOfWork, job: TrainingJob) -> None:
        return None

    async def _version_inputs_if_succeeded(
        self, job_id: str, upstream: UpstreamTraining
    ) -> VersionInputs | None:
        version_id = version_id_from(upstream.output_version)
        if upstream.status is not UpstreamStatus.SUCCEEDED or version_id is None:
            return None
        async with self._uow(read_only=True) as uow:
            job = await uow.training_jobs.get(job_id)
            model = await uow.user_models.for_user(job.user_id) if job else None
        if job is None or model is None or job.status.is_terminal:
            return None
        properties = await self._replicate.get_version_input_schema(
            model.owner, model.name, version_id
        )
        return read_version_inputs(properties)


async def _delete_upload_later(uow: UnitOfWork, job: TrainingJob) -> None:
    """An ending training's selfies are not kept: its upload is deleted by a task queued
    in the transaction that records the ending."""
    if job.upload_file_id is not None:
        await uow.tasks.delete_training_upload(job.id)


def is_jobs_training(job: TrainingJob, training: UpstreamTraining) -> bool:
    """Whether Replicate's training is the one this job created: its webhook URL names
    the job, or it carries the job's own upload (a fresh URL for every job)."""
    named = job_id_in(training.webhook, WebhookKind.TRAINING)
    if named is not None:
        return named == job.id
    return job.images_url is not None and training.images_url == job.images_url


async def _settle_model(
    uow: UnitOfWork,
    job: TrainingJob,
    upstream: UpstreamTraining,
    version_inputs: VersionInputs | None,
) -> TrainingJob:
    """A training ended: switch the model to its version, or keep the one it had."""
    model = await uow.user_models.for_user(job.user_id, lock=True)
    if model is None:  # a job references its model: never so
        raise LookupError(f"the model of training job {job.id} is gone")
    has_version = model.replicate_version_id is not None
    version_id = version_id_from(upstream.output_version)
    if job.status is TrainingStatus.SUCCEEDED and version_id and version_inputs:
        if version_inputs.unusable_reason is None or not has_version:
            await uow.user_models.save(_with_version(model, version_id, version_inputs))
        if version_inputs.unusable_reason is None:
            return job
        suffix = " Your previous model stays in use." if has_version else ""
        return replace(
            job,
            status=TrainingStatus.FAILED,
            error=version_inputs.unusable_reason + suffix,
            upstream_error="the trained version cannot take the locked parameters",
        )
    if job.status is TrainingStatus.SUCCEEDED:
        # Succeeded without a version: treat as a failure the user can retry.
        job = replace(job, status=TrainingStatus.FAILED, upstream_error="no output version")
    if not has_version:
        await uow.user_models.save(replace(model, status=ModelStatus.FAILED))
    return replace(job, error=user_error(job.status, has_previous_version=has_version))


def _with_version(model: UserModel, version_id: str, inputs: VersionInputs) -> UserModel:
    usable = inputs.unusable_reason is None
    return replace(
        model,
        replicate_version_id=version_id,
        status=ModelStatus.READY if usable else ModelStatus.FAILED,
        trained_at=datetime.now(UTC),
        input_names=inputs.names,
        unusable_reason=inputs.unusable_reason,
    )
