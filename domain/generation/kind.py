"""Generations as a kind of upstream job: what the engine (domain.upstream_jobs) does with a
generation and its prediction, and the download its succeeded prediction queues."""

from dataclasses import replace
from datetime import datetime

from domain.generation.models import Generation, GenerationStatus
from domain.generation.transitions import FAILED_MESSAGE, advance, changed, user_error
from domain.ports import GenerationRepository, UnitOfWork
from domain.upstream import Replicate, UpstreamPrediction, UpstreamStatus
from domain.upstream_jobs.kind import LocalEnd, Settle
from domain.webhook_links import WebhookKind, job_id_in

START_FAILED_MESSAGE = (
    "The image provider is unavailable right now, so nothing was started and nothing "
    "counted. Try again in a minute."
)
CANCEL_FAILED_MESSAGE = (
    "The generation could not be canceled because the image provider did not accept the "
    "request. It is still running; try canceling again in a minute."
)
NEVER_CONFIRMED = "the prediction was never confirmed"


class GenerationKind:
    name = "generation"
    upstream_name = "prediction"
    webhook_kind = WebhookKind.GENERATION
    start_failed_message = START_FAILED_MESSAGE
    cancel_failed_message = CANCEL_FAILED_MESSAGE
    lost_start = LocalEnd(message=FAILED_MESSAGE, upstream_error=NEVER_CONFIRMED)

    def __init__(self, replicate: Replicate) -> None:
        self._replicate = replicate

    def jobs(self, uow: UnitOfWork) -> GenerationRepository:
        return uow.generations

    async def claim_stale(
        self, uow: UnitOfWork, *, silent_for_seconds: float, lease_seconds: float, limit: int
    ) -> list[Generation]:
        return await uow.generations.claim_stale(
            silent_for_seconds=silent_for_seconds, lease_seconds=lease_seconds, limit=limit
        )

    def upstream_id(self, job: Generation) -> str | None:
        return job.replicate_prediction_id

    def with_upstream_id(self, job: Generation, upstream_id: str) -> Generation:
        return replace(job, replicate_prediction_id=upstream_id)

    def may_have_been_sent(self, job: Generation) -> bool:
        # A generation is recorded just before its create request goes out.
        return True

    def is_own(self, job: Generation, report: UpstreamPrediction) -> bool:
        return is_generations_prediction(job, report)

    async def fetch(self, upstream_id: str) -> UpstreamPrediction | None:
        return await self._replicate.get_prediction(upstream_id)

    async def list_recent(
        self, *, max_pages: int, created_after: datetime
    ) -> list[UpstreamPrediction]:
        return await self._replicate.list_predictions(
            max_pages=max_pages, created_after=created_after
        )

    async def cancel(self, upstream_id: str) -> UpstreamPrediction:
        return await self._replicate.cancel_prediction(upstream_id)

    def as_canceled(self, report: UpstreamPrediction) -> UpstreamPrediction:
        return replace(report, status=UpstreamStatus.CANCELED)

    def advance(self, job: Generation, report: UpstreamPrediction, now: datetime) -> Generation:
        return advance(job, report, now)

    def changed(self, before: Generation, after: Generation) -> bool:
        return changed(before, after)

    async def prepare(self, job_id: str, report: UpstreamPrediction) -> Settle[Generation]:
        return _queue_download

    async def end_locally(
        self, uow: UnitOfWork, job: Generation, end: LocalEnd, now: datetime
    ) -> Generation:
        """Ended here, so not billed by the provider: the allowance is given back."""
        status = GenerationStatus.CANCELED if end.canceled else GenerationStatus.FAILED
        return replace(
            job,
            status=status,
            error=end.message or user_error(status, ran=False),
            upstream_error=end.upstream_error,
            allowance_returned=True,
            completed_at=now,
        )

    async def announce(self, uow: UnitOfWork, job: Generation) -> None:
        await uow.events.generation_changed(job)

    def has_local_work(self, job: Generation) -> bool:
        return bool(job.output_urls)

    async def queue_local_work(self, uow: UnitOfWork, job: Generation) -> None:
        await uow.tasks.store_outputs(job.id)


async def _queue_download(uow: UnitOfWork, before: Generation, after: Generation) -> Generation:
    """Outputs to store: their download is queued in the transaction that records them."""
    if after.output_urls and not after.status.is_terminal:
        await uow.tasks.store_outputs(after.id)
    return after


def is_generations_prediction(generation: Generation, prediction: UpstreamPrediction) -> bool:
    """Whether Replicate's prediction is the one this generation created: its webhook URL
    names the generation, or it runs the generation's version with its prompt and its
    seed (drawn at random for each generation)."""
    named = job_id_in(prediction.webhook, WebhookKind.GENERATION)
    if named is not None:
        return named == generation.id
    return (
        prediction.version is not None
        and prediction.version == generation.replicate_version.rpartition(":")[2]
        and prediction.prompt == generation.prompt
        and prediction.seed == generation.parameters.seed
    )
