"""Training a user's own model: start, follow, cancel, and keep jobs in step with Replicate."""

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.allowances import Allowances, check_training_allowance, day_start
from domain.errors import (
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
from domain.training.models import TrainingJob, TrainingStatus, job_from_snapshot
from domain.training.selfies import PreparedSelfies, SelfieSource, prepare_selfies
from domain.training.transitions import advance, changed, user_error
from domain.training.uploads import UploadsInFlight
from domain.training.versions import VersionInputs, read_version_inputs, version_id_from
from domain.upstream import (
    FileUpload,
    Replicate,
    UnconfirmedReport,
    UpstreamStatus,
    UpstreamTraining,
)
from domain.users.models import ModelStatus, User, UserModel, model_name_for, trigger_word_for
from domain.webhook_links import WebhookKind, WebhookLinks, job_id_in

log = logging.getLogger(__name__)

TRAINER_VERSION = (
    "ostris/flux-dev-lora-trainer:26dce37af90b9d997eeb970d92e47de3064d46c300504ae376c75bef6a9022d2"
)
WEBHOOK_EVENTS = ["start", "logs", "completed"]
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
CANCELED_BEFORE_SUBMITTING_MESSAGE = (
    "This training ended before it was submitted (it was canceled, or its upload took too "
    "long); nothing was charged. Start a new training whenever you are ready."
)
# Replicate's clock and ours may differ a little: a lost start is looked for this much
# before its job was recorded.
CLOCK_SKEW = timedelta(minutes=1)


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

    # -- starting ---------------------------------------------------------------------

    async def start(self, user: User, sources: Sequence[SelfieSource]) -> StartedTraining:
        self._replicate.require_configured()
        with self._uploads.only_one(user.id, TrainingInProgress.running):
            await self._check_may_start(user)
            selfies = await prepare_selfies(sources, self._selfies)
            job, model = await self._record_queued_job(user, selfies.count)
        try:
            images_url = await self._prepare_upstream(job, model, selfies)
            training = await self._create_training(job, model, images_url)
        except UpstreamRejected as error:
            await self._fail_to_start(job, str(error))
            raise UpstreamUnavailable(START_FAILED_MESSAGE) from error
        except _MayHaveStarted as unknown:
            # Replicate may have it: its webhook or the reconciler will tell.
            log.warning("training %s may have started upstream: %s", job.id, unknown.error)
            return StartedTraining(job, model)
        except UpstreamUnavailable as error:
            await self._fail_to_start(job, str(error))
            raise
        job = await self.apply(job.id, training) or job
        if job.status is TrainingStatus.CANCELED:
            await self._cancel_orphan(training.id)
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

    async def _cancel_orphan(self, training_id: str) -> bool:
        """Canceled while it was being submitted: do not let it run (and bill)."""
        try:
            await self._replicate.cancel_training(training_id)
        except (UpstreamUnavailable, UpstreamRejected) as error:
            log.error("could not cancel orphaned training %s: %s", training_id, error)
            return False
        return True

    async def _record_queued_job(
        self, user: User, image_count: int
    ) -> tuple[TrainingJob, UserModel]:
        now = datetime.now(UTC)
        async with self._uow() as uow:
            await uow.users.lock(user.id)
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
    ) -> str:
        """The user's model exists on Replicate and the selfies are uploaded: their URL.

        Both are safe to repeat, so any failure here just fails the start.
        """
        if await self._replicate.get_model(model.owner, model.name) is None:
            await self._replicate.create_model(
                model.owner, model.name, description="A personal selfie LoRA."
            )
        return await self._replicate.upload_file(
            FileUpload(selfies.zip_bytes, f"selfies-{job.id}.zip", "application/zip")
        )

    async def _create_training(
        self, job: TrainingJob, model: UserModel, images_url: str
    ) -> UpstreamTraining:
        await self._record_submission(job.id, images_url)
        try:
            return await self._replicate.create_training(
                trainer_version=TRAINER_VERSION,
                destination=model.replicate_model_id,
                input=self._trainer_input(images_url, job.user_id),
                webhook=self._webhook_for(job),
                webhook_events=WEBHOOK_EVENTS,
            )
        except UpstreamUnavailable as error:
            if error.may_have_arrived:
                raise _MayHaveStarted(error) from error
            raise

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

    async def _record_submission(self, job_id: str, images_url: str) -> None:
        """Records the upload the create request carries, before sending it: should its
        answer be lost, the reconciler recognises the training by it."""
        async with self._uow() as uow:
            job = await uow.training_jobs.get(job_id, lock=True)
            if job is None or job.status.is_terminal:
                raise BadUserInput(CANCELED_BEFORE_SUBMITTING_MESSAGE)
            await uow.training_jobs.save(replace(job, images_url=images_url))
            await uow.commit()

    def _webhook_for(self, job: TrainingJob) -> str | None:
        if self._config.webhooks is None:
            return None
        return self._config.webhooks.url_for(WebhookKind.TRAINING, job.id)

    async def _fail_to_start(self, job: TrainingJob, reason: str) -> None:
        log.warning("training %s could not start: %s", job.id, reason)
        await self._finish_locally(job.id, TrainingStatus.FAILED, START_FAILED_MESSAGE, reason)

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
        if job.replicate_training_id is None:
            return await self._finish_locally(job.id, TrainingStatus.CANCELED, None, None)
        self._replicate.require_configured()
        try:
            upstream = await self._replicate.cancel_training(job.replicate_training_id)
        except (UpstreamUnavailable, UpstreamRejected) as error:
            # The provider's own words stay in the log: they are not the user's to read.
            log.warning("could not cancel training %s upstream: %s", job.id, error)
            raise UpstreamUnavailable(CANCEL_FAILED_MESSAGE) from error
        if not upstream.status.is_terminal:
            upstream = replace(upstream, status=UpstreamStatus.CANCELED)
        return await self.apply(job.id, upstream) or job

    async def _finish_locally(
        self, job_id: str, status: TrainingStatus, error: str | None, upstream_error: str | None
    ) -> TrainingJob:
        async with self._uow() as uow:
            job = await uow.training_jobs.get(job_id, lock=True)
            if job is None:  # jobs are never deleted
                raise LookupError(f"training job {job_id} is gone")
            if job.status.is_terminal:
                return job
            model = await uow.user_models.for_user(job.user_id, lock=True)
            has_version = bool(model and model.replicate_version_id)
            job = await uow.training_jobs.save(
                replace(
                    job,
                    status=status,
                    completed_at=datetime.now(UTC),
                    error=error or user_error(status, has_previous_version=has_version),
                    upstream_error=upstream_error,
                )
            )
            if model is not None and not has_version:
                await uow.user_models.save(replace(model, status=ModelStatus.FAILED))
            await uow.events.training_changed(job)
            await uow.commit()
        return job

    # -- keeping in step with Replicate ------------------------------------------------

    async def apply(
        self, job_id: str, upstream: UpstreamTraining, *, webhook_id: str | None = None
    ) -> TrainingJob | None:
        """Applies what Replicate reported (webhook, poll or answer); None for unknown jobs.

        Raises UpstreamUnavailable when a succeeded version's inputs cannot be read
        yet: nothing is recorded then, so the report can come again.
        """
        version_inputs = await self._version_inputs_if_succeeded(job_id, upstream)
        async with self._uow() as uow:
            if webhook_id is not None and not await uow.webhook_deliveries.first_delivery(
                webhook_id
            ):
                return await uow.training_jobs.get(job_id)
            job = await uow.training_jobs.get(job_id, lock=True)
            if job is None or not _same_training(job, upstream):
                return job
            updated = advance(job, upstream, datetime.now(UTC))
            if updated.status.is_terminal and not job.status.is_terminal:
                updated = await self._settle_model(uow, updated, upstream, version_inputs)
            updated = await uow.training_jobs.save(updated)
            if changed(job, updated):
                await uow.events.training_changed(updated)
            await uow.commit()
        return updated

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

    async def _settle_model(
        self,
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

    # -- reconciling -------------------------------------------------------------------

    async def reconcile(
        self, *, silent_for_seconds: float, lease_seconds: float, batch: int
    ) -> int:
        """Polls Replicate for jobs not heard of lately, looks for lost starts; returns how
        many were checked. One job's failure is logged and never stops the others."""
        async with self._uow() as uow:
            jobs = await uow.training_jobs.claim_stale(
                silent_for_seconds=silent_for_seconds,
                lease_seconds=lease_seconds,
                limit=batch,
                canceled_unconfirmed_for_seconds=self._orphan_search_seconds(),
            )
            await uow.commit()
        recent = _RecentTrainings(self._replicate, self._config.lost_start_pages)
        for job in jobs:
            try:
                await self._reconcile_job(job, recent)
            except (UpstreamUnavailable, UpstreamRejected) as error:
                log.warning("could not reconcile training %s: %s", job.id, error)
            except Exception:
                log.exception("reconciling training %s failed; it is tried again later", job.id)
        return len(jobs)

    def _orphan_search_seconds(self) -> float:
        return 2 * self._config.start_grace.total_seconds()

    async def forget_webhooks_before(self, moment: datetime) -> None:
        async with self._uow() as uow:
            await uow.webhook_deliveries.forget_before(moment)
            await uow.commit()

    async def _reconcile_job(self, job: TrainingJob, recent: "_RecentTrainings") -> None:
        if job.replicate_training_id is not None:
            upstream = await self._replicate.get_training(job.replicate_training_id)
            if upstream is None:
                await self._finish_locally(
                    job.id, TrainingStatus.FAILED, None, "training not found upstream"
                )
            else:
                await self.apply(job.id, upstream)
            return
        adopted = await recent.find(job) if job.images_url is not None else None
        if job.status is TrainingStatus.CANCELED:
            await self._cancel_found_orphan(job, adopted)
        elif adopted is not None:
            await self.apply(job.id, adopted)
        elif datetime.now(UTC) - job.created_at < self._config.start_grace:
            await self._keep_waiting(job)
        else:
            await self._finish_locally(job.id, TrainingStatus.FAILED, LOST_START_MESSAGE, None)

    async def _cancel_found_orphan(self, job: TrainingJob, found: UpstreamTraining | None) -> None:
        """A job canceled while its create request may have arrived: cancel what arrived."""
        if found is not None and not await self._cancel_orphan(found.id):
            return  # its lease runs out, and the next round tries again
        async with self._uow() as uow:
            current = await uow.training_jobs.get(job.id, lock=True)
            if current is not None and current.replicate_training_id is None:
                recorded = found.id if found is not None else None
                await uow.training_jobs.save(replace(current, replicate_training_id=recorded))
                await uow.commit()

    async def _keep_waiting(self, job: TrainingJob) -> None:
        async with self._uow() as uow:
            current = await uow.training_jobs.get(job.id, lock=True)
            if current is not None and not current.status.is_terminal:
                await uow.training_jobs.save(current)
                await uow.commit()

    # -- webhooks ---------------------------------------------------------------------

    async def apply_webhook(
        self, job_id: str, reported: UpstreamTraining, *, webhook_id: str
    ) -> TrainingJob | None:
        """A verified webhook's report, for the job's own training only. A job with no
        training recorded yet adopts only one the provider confirms is its own; anything
        else raises UnconfirmedReport."""
        async with self._uow(read_only=True) as uow:
            job = await uow.training_jobs.get(job_id)
        if job is None:
            return None
        if job.replicate_training_id is None:
            confirmed = await self._replicate.get_training(reported.id)
            if confirmed is not None and is_jobs_training(job, confirmed):
                return await self.apply(job_id, confirmed, webhook_id=webhook_id)
        elif job.replicate_training_id == reported.id:
            return await self.apply(job_id, reported, webhook_id=webhook_id)
        log.warning("webhook for job %s names another training: %s", job.id, reported.id)
        raise UnconfirmedReport(reported.id)


class _RecentTrainings:
    """Replicate's recent trainings, listed at most once per reconciler round."""

    def __init__(self, replicate: Replicate, max_pages: int) -> None:
        self._replicate = replicate
        self._max_pages = max_pages
        self._listed: list[UpstreamTraining] | None = None
        self._reaches_back_to: datetime | None = None

    async def find(self, job: TrainingJob) -> UpstreamTraining | None:
        """The training created for this job, whose create answer never reached us."""
        earliest = job.created_at - CLOCK_SKEW
        if self._listed is None or (self._reaches_back_to or earliest) > earliest:
            self._listed = await self._replicate.list_trainings(
                max_pages=self._max_pages, created_after=earliest
            )
            self._reaches_back_to = earliest
        return next((found for found in self._listed if is_jobs_training(job, found)), None)


def is_jobs_training(job: TrainingJob, training: UpstreamTraining) -> bool:
    """Whether Replicate's training is the one this job created: its webhook URL names
    the job, or it carries the job's own upload (a fresh URL for every job)."""
    named = job_id_in(training.webhook, WebhookKind.TRAINING)
    if named is not None:
        return named == job.id
    return job.images_url is not None and training.images_url == job.images_url


class _MayHaveStarted(Exception):
    def __init__(self, error: UpstreamUnavailable) -> None:
        super().__init__(str(error))
        self.error = error


def _same_training(job: TrainingJob, upstream: UpstreamTraining) -> bool:
    if job.replicate_training_id is None or job.replicate_training_id == upstream.id:
        return True
    log.warning(
        "report for training %s ignored: job %s runs %s",
        upstream.id,
        job.id,
        job.replicate_training_id,
    )
    return False


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
