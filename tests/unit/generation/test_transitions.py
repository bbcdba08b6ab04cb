from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.generation.models import Generation, GenerationSource, GenerationStatus
from domain.generation.parameters import locked_parameters
from domain.generation.transitions import (
    CANCELED_MESSAGE,
    FAILED_MESSAGE,
    RAN_AND_CANCELED_MESSAGE,
    RAN_AND_FAILED_MESSAGE,
    advance,
    changed,
    is_own_report,
    ran_upstream,
    user_error,
)
from domain.upstream import MAX_UPSTREAM_ERROR_CHARS, UpstreamPrediction, UpstreamStatus

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(seconds=20)
COMPLETED = NOW - timedelta(seconds=5)
OUTPUTS = ["https://replicate.delivery/a/0.png", "https://replicate.delivery/a/1.png"]
# Drawn once: each call draws a new seed, and two generations must be alike.
PARAMETERS = locked_parameters()
ENDED = [GenerationStatus.SUCCEEDED, GenerationStatus.FAILED, GenerationStatus.CANCELED]


def generation(
    status: GenerationStatus = GenerationStatus.STARTING, prediction_id: str | None = "p-1"
) -> Generation:
    return Generation(
        id="gen-1",
        user_id="u1",
        source=GenerationSource.MAYA,
        replicate_version="owner/u1-selfie-lora:v1",
        style_id=None,
        prompt="TOK smiling",
        parameters=PARAMETERS,
        status=status,
        replicate_prediction_id=prediction_id,
        created_at=NOW - timedelta(minutes=1),
        updated_at=NOW - timedelta(minutes=1),
    )


def report(
    status: UpstreamStatus,
    *,
    prediction_id: str = "p-1",
    output: list[str] | None = None,
    error: str | None = None,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
) -> UpstreamPrediction:
    return UpstreamPrediction(
        id=prediction_id,
        status=status,
        output=list(output or []),
        error=error,
        started_at=started_at,
        completed_at=completed_at,
    )


# -- forward only ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        (UpstreamStatus.STARTING, GenerationStatus.STARTING),
        (UpstreamStatus.PROCESSING, GenerationStatus.PROCESSING),
        (UpstreamStatus.SUCCEEDED, GenerationStatus.PROCESSING),
        (UpstreamStatus.FAILED, GenerationStatus.FAILED),
        (UpstreamStatus.CANCELED, GenerationStatus.CANCELED),
    ],
)
def test_each_upstream_status_maps_to_its_generation_status(
    upstream: UpstreamStatus, expected: GenerationStatus
) -> None:
    after = advance(generation(), report(upstream, output=OUTPUTS), NOW)

    assert after.status is expected


def test_a_succeeded_prediction_stays_processing_until_its_outputs_are_stored() -> None:
    after = advance(generation(GenerationStatus.PROCESSING), report(UpstreamStatus.SUCCEEDED), NOW)

    assert after.status is GenerationStatus.PROCESSING
    assert after.completed_at is None
    assert after.error is None


@pytest.mark.parametrize("late", [UpstreamStatus.STARTING, UpstreamStatus.PROCESSING])
def test_an_older_report_never_moves_a_generation_back(late: UpstreamStatus) -> None:
    processing = replace(generation(GenerationStatus.PROCESSING), output_urls=OUTPUTS)

    after = advance(processing, report(late), NOW)

    assert after == processing


def test_a_report_of_the_same_status_changes_nothing() -> None:
    processing = generation(GenerationStatus.PROCESSING)

    after = advance(processing, report(UpstreamStatus.PROCESSING), NOW)

    assert after == processing
    assert not changed(processing, after)


@pytest.mark.parametrize("ended", ENDED)
def test_an_ended_generation_ignores_every_report(ended: GenerationStatus) -> None:
    finished = replace(generation(ended), completed_at=NOW, error="ended before")

    for status in UpstreamStatus:
        reported = report(status, output=OUTPUTS, error="late", started_at=STARTED)
        assert advance(finished, reported, NOW) == finished


@pytest.mark.parametrize("ended", ENDED)
def test_an_ended_generation_without_a_prediction_does_not_adopt_one(
    ended: GenerationStatus,
) -> None:
    finished = replace(generation(ended, prediction_id=None), completed_at=NOW)

    after = advance(finished, report(UpstreamStatus.SUCCEEDED, output=OUTPUTS), NOW)

    assert after == finished


# -- which prediction --------------------------------------------------------------------


def test_a_first_report_records_its_prediction() -> None:
    unconfirmed = generation(prediction_id=None)

    after = advance(unconfirmed, report(UpstreamStatus.STARTING), NOW)

    assert after == replace(unconfirmed, replicate_prediction_id="p-1")
    assert changed(unconfirmed, after)


def test_a_report_on_another_prediction_changes_nothing() -> None:
    running = generation(GenerationStatus.PROCESSING)
    other = report(UpstreamStatus.FAILED, prediction_id="p-2", error="boom", started_at=STARTED)

    assert not is_own_report(running, other)
    assert advance(running, other, NOW) == running


def test_any_report_is_own_while_no_prediction_is_recorded() -> None:
    assert is_own_report(generation(prediction_id=None), report(UpstreamStatus.STARTING))
    assert is_own_report(generation(), report(UpstreamStatus.STARTING))


# -- outputs -----------------------------------------------------------------------------


def test_success_records_the_outputs_to_download() -> None:
    after = advance(
        generation(GenerationStatus.PROCESSING),
        report(UpstreamStatus.SUCCEEDED, output=OUTPUTS),
        NOW,
    )

    assert after.output_urls == OUTPUTS
    assert after.status is GenerationStatus.PROCESSING


def test_success_without_outputs_records_none() -> None:
    processing = generation(GenerationStatus.PROCESSING)

    after = advance(processing, report(UpstreamStatus.SUCCEEDED), NOW)

    assert after.output_urls == []
    assert not changed(processing, after)


def test_outputs_once_recorded_are_kept() -> None:
    recorded = replace(generation(GenerationStatus.PROCESSING), output_urls=OUTPUTS)

    after = advance(recorded, report(UpstreamStatus.SUCCEEDED, output=["https://x/other"]), NOW)

    assert after == recorded


@pytest.mark.parametrize(
    "status", [UpstreamStatus.STARTING, UpstreamStatus.PROCESSING, UpstreamStatus.FAILED]
)
def test_only_a_succeeded_prediction_records_outputs(status: UpstreamStatus) -> None:
    after = advance(generation(), report(status, output=OUTPUTS), NOW)

    assert after.output_urls == []


# -- ending: billed or given back --------------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "ended", "message"),
    [
        (UpstreamStatus.FAILED, GenerationStatus.FAILED, FAILED_MESSAGE),
        (UpstreamStatus.CANCELED, GenerationStatus.CANCELED, CANCELED_MESSAGE),
    ],
)
def test_ending_before_it_ran_gives_the_allowance_back(
    upstream: UpstreamStatus, ended: GenerationStatus, message: str
) -> None:
    after = advance(generation(), report(upstream, completed_at=COMPLETED), NOW)

    assert after.status is ended
    assert after.allowance_returned is True
    assert after.error == message
    assert after.completed_at == COMPLETED


@pytest.mark.parametrize(
    ("upstream", "ended", "message"),
    [
        (UpstreamStatus.FAILED, GenerationStatus.FAILED, RAN_AND_FAILED_MESSAGE),
        (UpstreamStatus.CANCELED, GenerationStatus.CANCELED, RAN_AND_CANCELED_MESSAGE),
    ],
)
def test_ending_after_it_was_seen_running_counts(
    upstream: UpstreamStatus, ended: GenerationStatus, message: str
) -> None:
    after = advance(generation(GenerationStatus.PROCESSING), report(upstream), NOW)

    assert after.status is ended
    assert after.allowance_returned is False
    assert after.error == message


def test_ending_with_a_start_time_upstream_counts_though_never_seen_running() -> None:
    failed = report(UpstreamStatus.FAILED, started_at=STARTED, completed_at=COMPLETED)

    after = advance(generation(GenerationStatus.STARTING), failed, NOW)

    assert ran_upstream(generation(GenerationStatus.STARTING), failed)
    assert after.allowance_returned is False
    assert after.error == RAN_AND_FAILED_MESSAGE


def test_ending_without_a_completion_time_upstream_completes_now() -> None:
    after = advance(generation(), report(UpstreamStatus.CANCELED), NOW)

    assert after.completed_at == NOW


def test_failure_carries_the_upstream_error_as_reported() -> None:
    bounded = "x" * (MAX_UPSTREAM_ERROR_CHARS - 1) + "…"

    after = advance(generation(), report(UpstreamStatus.FAILED, error=bounded), NOW)

    assert after.upstream_error == bounded


def test_an_ending_without_an_upstream_error_records_none() -> None:
    after = advance(generation(), report(UpstreamStatus.CANCELED), NOW)

    assert after.upstream_error is None


def test_user_error_is_for_failed_and_canceled_only() -> None:
    for status in (GenerationStatus.STARTING, GenerationStatus.PROCESSING):
        assert user_error(status, ran=True) is None
    assert user_error(GenerationStatus.SUCCEEDED, ran=True) is None
    assert user_error(GenerationStatus.FAILED, ran=False) == FAILED_MESSAGE
    assert user_error(GenerationStatus.CANCELED, ran=True) == RAN_AND_CANCELED_MESSAGE


def test_changed_sees_any_field() -> None:
    before = generation()

    assert not changed(before, replace(before))
    assert changed(before, replace(before, status=GenerationStatus.PROCESSING))
    assert changed(before, replace(before, output_urls=OUTPUTS))
