"""Training a user's own model: start, follow, cancel, and keep jobs in step with Replicate
(the engine in domain.upstream_jobs, with the training kind of domain.training.kind)."""

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.allowances import Allowances, check_training_allowance, day_start
from domain.errors import (
    AccountDeleted,
    BadUserInput,
    CapacityReached,
    NotFound,
    TrainingInProgress,
    UpstreamRejected,
    UpstreamUnavailable,
)
from domain.events import EventHub, training_topic
from domain.paging import Page
from domain.ports import SelfieProcessor, UnitOfWork, UnitOfWorkFactory
from domain.training.kind import CANCEL_FAILED_MESSAGE as CANCEL_FAILED_MESSAGE
from domain.training.kind import LOST_START_MESSAGE as LOST_START_MESSAGE
from domain.training.kind import START_FAILED_MESSAGE as START_FAILED_MESSAGE
from domain.training.kind import TrainingKind
from domain.training.models import TrainingJob, job_from_snapshot
from domain.training.selfies import PreparedSelfies, SelfieSource, prepare_selfies
from domain.training.uploads import UploadsInFlight, selfie_archive_name
from domain.upstream import (
    FileUpload,
    Replicate,
    UploadedFile,
    UpstreamTraining,
    WebhookOutcome,
)
from domain.upstream_jobs.engine import UpstreamJobs
from domain.users.models import ModelStatus, User, UserModel, model_name_for, trigger_word_for
from domain.webhook_links import WebhookLinks

log = logging.getLogger(__name__)

TRAINER_VERSION = (
    "ostris/flux-dev-lora-trainer:26dce37af90b9d997eeb970d92e47de3064d46c300504ae376c75bef6a9022d2"
)
WEBHOOK_EVENTS = ["start", "logs", "completed"]
# An ended training's upload is deleted by a task queued as it ends; one still there after
# this long is queued again by the reconciler.
UPLOAD_DELETION_GRACE = timedelta(minutes=10)
CANCELED_BEFORE_SUBMITTING_MESSAGE = (
    "This training ended before it was submitted (it was canceled, or its upload took too "
    "long); nothing was charged. Start a new training whenever you are ready."
)


@dataclass(frozen=True)
class TrainingConfig:
    owners: tuple[str, ...]
    models_per_owner: int = 1000
    # Builds each job's webhook URL (None, or no PUBLIC_BASE_URL: polling alone).
    webhooks: WebhookLinks | None = None
    steps: int = 1000
    lora_rank: int = 16
    learning_rate: float = 4e-4
    # A queued job still without a Replicate training after this long was lost mid-start.
    start_grace: timedelta = timedelta(minutes=2)
    allowances: Allowances = field(default_factory=Allowances)
    # How many pages of recent trainings (100 each) a lost start is looked for in.
    lost_start_pages: int = 5


@dataclass(frozen=True)
class StartedTraining:
    job: TrainingJob
    model: UserModel


class TrainingService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        replicate: Replicate,
        events: EventHub,
        config: TrainingConfig,
        selfies: SelfieProcessor,
    ) -> None:
        self._uow = uow
        self._replicate = replicate
        self._events = events
        self._config = config
        self._selfies = selfies
        self._uploads = UploadsInFlight()
        self._jobs = UpstreamJobs(
            uow,
            TrainingKind(uow, replicate, config.start_grace),
            webhooks=config.webhooks,
            start_grace=config.start_grace,
            lost_start_pages=config.lost_start_pages,
        )

    # -- starting ---------------------------------------------------------------------

    async def start(self, user: User, sources: Sequence[SelfieSource]) -> StartedTraining:
        self._replicate.require_configured()
        with self._uploads.only_one(user.id, TrainingInProgress.running):
            await self._check_may_start(user)
            selfies = await prepare_selfies(sources, self._selfies)
            job, model = await self._record_queued_job(user, selfies.count)
        try:
            upload = await self._prepare_upstream(job, model, selfies)
        except (UpstreamRejected, UpstreamUnavailable) as error:
            raise await self._jobs.fail_to_start(job, error) from error
        try:
            await self._record_submission(job.id, upload)
        except AccountDeleted:
            await self._remove_after_deletion(model, upload)
            raise
        job = await self._jobs.submit(
            job,
            lambda: self._replicate.create_training(
                trainer_version=TRAINER_VERSION,
                destination=model.replicate_model_id,
                input=self._trainer_input(upload.url, job.user_id),
                webhook=self._jobs.webhook_for(job),
                webhook_events=WEBHOOK_EVENTS,
            ),
        )
        return StartedTraining(job, model)

    async def _check_may_start(self, user: User) -> None:
        """The cheap refusals, before any selfie is decoded (`_record_queued_job` checks
        again, under the user's row lock)."""
        now = datetime.now(UTC)
        async with self._uow(read_only=True) as uow:
            if await uow.training_jobs.active_for_user(user.id):
                raise TrainingInProgress.running()
            today = await uow.training_jobs.count_started_since(user.id, day_start(now))
        check_training_allowance(self._config.allowances, today=today, now=now)

    async def _record_queued_job(
        self, user: User, image_count: int
    ) -> tuple[TrainingJob, UserModel]:
        now = datetime.now(UTC)
        async with self._uow() as uow:
            if not await uow.users.lock(user.id):
                raise AccountDeleted()
            check_training_allowance(
                self._config.allowances,
                today=await uow.training_jobs.count_started_since(user.id, day_start(now)),
                now=now,
            )
            model = await uow.user_models.for_user(user.id, lock=True)
            if model is None:
                model = await self._create_model(uow, user)
            elif model.replicate_version_id is None and model.status is not ModelStatus.TRAINING:
                model = await uow.user_models.save(replace(model, status=ModelStatus.TRAINING))
            job = await uow.training_jobs.insert_queued(user.id, model.id, image_count)
            await uow.events.training_changed(job)
            await uow.commit()
        return job, model

    async def _create_model(self, uow: UnitOfWork, user: User) -> UserModel:
        owner = await uow.owners.reserve_model_slot(
            self._config.owners, self._config.models_per_owner
        )
        if owner is None:
            log.error(
                "CAPACITY REACHED: every Replicate owner (%s) holds %d models; add one to "
                "REPLICATE_EXTRA_OWNERS",
                ", ".join(self._config.owners),
                self._config.models_per_owner,
            )
            raise CapacityReached(
                "The studio cannot train new models right now. We have been alerted; "
                "please try again later."
            )
        return await uow.user_models.create(user.id, f"{owner}/{model_name_for(user.id)}")

    async def _prepare_upstream(
        self, job: TrainingJob, model: UserModel, selfies: PreparedSelfies
    ) -> UploadedFile:
        """The user's model exists on Replicate and the selfies are uploaded: the upload.

        Both are safe to repeat, so any failure here just fails the start.
        """
        if await self._replicate.get_model(model.owner, model.name) is None:
            await self._replicate.create_model(
                model.owner, model.name, description="A personal selfie LoRA."
            )
        return await self._replicate.upload_file(
            FileUpload(selfies.zip_bytes, selfie_archive_name(job.id), "application/zip")
        )

    async def _remove_after_deletion(self, model: UserModel, upload: UploadedFile) -> None:
        """The account was deleted while its training was being prepared: what this start
        put upstream after the deletion looked is removed (the orphan collector would
        find the upload, but not the model)."""
        try:
            await self._replicate.delete_file(upload.id)
            await self._replicate.delete_model(model.owner, model.name)
        except (UpstreamRejected, UpstreamUnavailable) as error:
            log.error("model %s left after its account was deleted: %s", model.name, error)

    def _trainer_input(self, images_url: str, user_id: str) -> dict[str, Any]:
        return {
            "input_images": images_url,
            "trigger_word": trigger_word_for(user_id),
            "steps": self._config.steps,
            "lora_rank": self._config.lora_rank,
            "learning_rate": self._config.learning_rate,
            "batch_size": 1,
            "resolution": "512,768,1024",
            "autocaption": True,
        }

    async def _record_submission(self, job_id: str, upload: UploadedFile) -> None:
        """Records the upload the create request carries, before sending it: should its
        answer be lost, the reconciler recognises the training by it. A job that ended
        meanwhile has its upload deleted at once."""
        async with self._uow() as uow:
            job = await uow.training_jobs.get(job_id, lock=True)
            if job is None:
                # The account was deleted meanwhile: the orphan collector removes the upload.
                raise AccountDeleted()
            uploaded = replace(job, upload_file_id=upload.id)
            if job.status.is_terminal:
                await uow.training_jobs.save(uploaded)
                await uow.tasks.delete_training_upload(job.id)
                await uow.commit()
                raise BadUserInput(CANCELED_BEFORE_SUBMITTING_MESSAGE)
            await uow.training_jobs.save(replace(uploaded, images_url=upload.url))
            await uow.commit()

    # -- following ---------------------------------------------------------------------

    async def get_owned(self, user: User, job_id: str) -> TrainingJob:
        async with self._uow(read_only=True) as uow:
            job = await uow.training_jobs.get_owned(user.id, job_id)
        if job is None:
            raise NotFound("No such training among yours.")
        return job

    async def page(
        self, user: User, *, first: int, after: tuple[datetime, str] | None
    ) -> Page[TrainingJob]:
        async with self._uow(read_only=True) as uow:
            return await uow.training_jobs.page(user.id, first=first, after=after)

    async def owned_by_ids(self, user: User, job_ids: Sequence[str]) -> dict[str, TrainingJob]:
        """The user's own trainings among `job_ids`, by id; others' are simply absent."""
        async with self._uow(read_only=True) as uow:
            jobs = await uow.training_jobs.owned_by_ids(user.id, job_ids)
        return {job.id: job for job in jobs}

    async def active_for_users(self, user_ids: Sequence[str]) -> dict[str, TrainingJob]:
        async with self._uow(read_only=True) as uow:
            jobs = await uow.training_jobs.active_for_users(user_ids)
        return {job.user_id: job for job in jobs}

    async def follow(self, user: User, job_id: str | None) -> AsyncIterator[TrainingJob]:
        """The job now, then on every change of status or progress, until it ends."""
        job = await self._followed_job(user, job_id)
        async with self._events.follow(training_topic(job.id)) as notices:
            job = await self.get_owned(user, job.id)  # nothing missed since following
            yield job
            while not job.status.is_terminal:
                notice = await notices.get()
                latest = job_from_snapshot(notice) if notice else await self.get_owned(user, job.id)
                if (latest.status, latest.progress) != (job.status, job.progress):
                    yield latest
                job = latest

    async def _followed_job(self, user: User, job_id: str | None) -> TrainingJob:
        if job_id is not None:
            return await self.get_owned(user, job_id)
        async with self._uow(read_only=True) as uow:
            job = await uow.training_jobs.active_for_user(
                user.id
            ) or await uow.training_jobs.latest_for_user(user.id)
        if job is None:
            raise NotFound("You have no training yet: upload your selfies to start one.")
        return job

    # -- canceling ---------------------------------------------------------------------

    async def cancel(self, user: User, job_id: str) -> TrainingJob:
        job = await self.get_owned(user, job_id)
        if job.status.is_terminal:
            raise BadUserInput(f"This training has already ended ({job.status.value.lower()}).")
        if job.replicate_training_id is not None:
            self._replicate.require_configured()
        return await self._jobs.cancel(job)

    # -- keeping in step with Replicate ------------------------------------------------

    async def apply(
        self, job_id: str, upstream: UpstreamTraining, *, webhook_id: str | None = None
    ) -> TrainingJob | None:
        """Applies what Replicate reported (webhook, poll or answer); None for unknown jobs.

        Raises UpstreamUnavailable when a succeeded version's inputs cannot be read
        yet: nothing is recorded then, so the report can come again.
        """
        return await self._jobs.apply(job_id, upstream, webhook_id=webhook_id)

    async def apply_webhook(
        self, job_id: str, reported: UpstreamTraining, *, webhook_id: str
    ) -> WebhookOutcome:
        return await self._jobs.apply_webhook(job_id, reported, webhook_id=webhook_id)

    async def reconcile(
        self, *, silent_for_seconds: float, lease_seconds: float, batch: int
    ) -> int:
        """Polls Replicate for jobs not heard of lately, looks for lost starts, queues the
        upload deletions that were missed; returns how many jobs were checked."""
        checked = await self._jobs.reconcile(
            silent_for_seconds=silent_for_seconds,
            lease_seconds=lease_seconds,
            batch=batch,
        )
        await self.queue_missed_upload_deletions(batch=batch)
        return checked

    async def forget_webhooks_before(self, moment: datetime) -> None:
        await self._jobs.forget_webhooks_before(moment)

    # -- not keeping the selfies ---------------------------------------------------------

    async def delete_upload(self, job_id: str) -> None:
        """Deletes the ended training's selfie archive from the provider's file store
        (raising, to be retried, while the provider does not answer)."""
        async with self._uow(read_only=True) as uow:
            job = await uow.training_jobs.get(job_id)
        if job is None or job.upload_file_id is None or not job.status.is_terminal:
            return
        await self._replicate.delete_file(job.upload_file_id)
        async with self._uow() as uow:
            await uow.training_jobs.forget_upload(job.upload_file_id)
            await uow.commit()

    async def queue_missed_upload_deletions(self, *, batch: int) -> int:
        """Queues deleting the uploads of trainings that ended a while ago and still have
        one (a deletion that failed for good, or jobs from before deletions existed)."""
        ended_before = datetime.now(UTC) - UPLOAD_DELETION_GRACE
        async with self._uow() as uow:
            jobs = await uow.training_jobs.uploads_to_delete(ended_before=ended_before, limit=batch)
            for job in jobs:
                await uow.tasks.delete_training_upload(job.id)
            await uow.commit()
        return len(jobs)
