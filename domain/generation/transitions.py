"""The generation state machine: what a prediction report does to a generation. Pure: no I/O."""

from dataclasses import replace
from datetime import datetime

from domain.generation.models import Generation, GenerationStatus
from domain.upstream import UpstreamPrediction, UpstreamStatus

_STATUS_FROM_UPSTREAM = {
    UpstreamStatus.STARTING: GenerationStatus.STARTING,
    UpstreamStatus.PROCESSING: GenerationStatus.PROCESSING,
    # Succeeded upstream: still PROCESSING here until the images are stored.
    UpstreamStatus.SUCCEEDED: GenerationStatus.PROCESSING,
    UpstreamStatus.FAILED: GenerationStatus.FAILED,
    UpstreamStatus.CANCELED: GenerationStatus.CANCELED,
}

FAILED_MESSAGE = (
    "The photos could not be created. This one does not count against your allowance; "
    "try again, perhaps with a different prompt."
)
# The provider ran it (and billed it): it counts against the daily allowance.
RAN_AND_FAILED_MESSAGE = (
    "The photos could not be created: the image provider ran this generation but it "
    "failed (for example, its safety filter held back every photo). It counts against "
    "today's allowance; try again, perhaps with a different prompt."
)
CANCELED_MESSAGE = "The generation was canceled; it does not count against your allowance."
RAN_AND_CANCELED_MESSAGE = (
    "The generation was canceled after the image provider had started it; it counts "
    "against today's allowance."
)


def is_own_report(generation: Generation, prediction: UpstreamPrediction) -> bool:
    """Whether the report is on the generation's prediction (any, while none is recorded)."""
    expected = generation.replicate_prediction_id
    return expected is None or expected == prediction.id


def advance(generation: Generation, prediction: UpstreamPrediction, now: datetime) -> Generation:
    """The generation after this report: statuses only move forward, an ended generation
    and a report on another prediction change nothing, and a succeeded prediction
    records its outputs for the download (the generation succeeds once they are stored).
    """
    if generation.status.is_terminal or not is_own_report(generation, prediction):
        return generation
    reported = _STATUS_FROM_UPSTREAM[prediction.status]
    status = reported if reported.rank > generation.status.rank else generation.status
    updated = replace(
        generation,
        status=status,
        replicate_prediction_id=generation.replicate_prediction_id or prediction.id,
    )
    if prediction.status is UpstreamStatus.SUCCEEDED and not generation.output_urls:
        updated = replace(updated, output_urls=list(prediction.output))
    if status.is_terminal:
        return _ended(updated, prediction, ran=ran_upstream(generation, prediction), now=now)
    return updated


def ran_upstream(generation: Generation, prediction: UpstreamPrediction) -> bool:
    """Whether the provider started running it, and so billed it: a prediction that
    failed or was canceled after that counts against the allowance; one that never
    started is given back."""
    return prediction.started_at is not None or generation.status is GenerationStatus.PROCESSING


def user_error(status: GenerationStatus, *, ran: bool) -> str | None:
    """What the user reads about a failed or canceled generation."""
    if status is GenerationStatus.FAILED:
        return RAN_AND_FAILED_MESSAGE if ran else FAILED_MESSAGE
    if status is GenerationStatus.CANCELED:
        return RAN_AND_CANCELED_MESSAGE if ran else CANCELED_MESSAGE
    return None


def changed(before: Generation, after: Generation) -> bool:
    return before != after


def _ended(
    generation: Generation, prediction: UpstreamPrediction, *, ran: bool, now: datetime
) -> Generation:
    return replace(
        generation,
        completed_at=prediction.completed_at or now,
        error=user_error(generation.status, ran=ran),
        upstream_error=prediction.error,
        allowance_returned=not ran,
    )
