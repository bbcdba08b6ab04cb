"""Replicate's training and prediction objects into the domain's dataclasses."""

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.upstream import MAX_UPSTREAM_ERROR_CHARS, UpstreamStatus
from replicate_client import prediction_from_json, training_from_json
from tests.unit.replicate_client.fakes import TRAINED_VERSION_ID, prediction_body, training_body


def test_a_training_in_progress() -> None:
    training = training_from_json(training_body())

    assert training.id == "zz4ibbonubfz7carwiefibzgga"
    assert training.status is UpstreamStatus.PROCESSING
    assert "830/1000" in training.logs
    assert training.error is None
    assert training.output_version is None
    assert training.created_at == datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
    assert training.started_at == datetime(2026, 11, 25, 10, 0, 4, 500000, tzinfo=UTC)
    assert training.completed_at is None


def test_a_succeeded_training_has_its_output_version() -> None:
    version = f"sselfie/user-1-selfie-lora:{TRAINED_VERSION_ID}"
    body = training_body(
        status="succeeded",
        output={"version": version, "weights": "https://replicate.delivery/w/trained.tar"},
        completed_at="2026-11-25T10:45:12.000001Z",
    )

    training = training_from_json(body)

    assert training.status.is_terminal
    assert training.output_version == version
    assert training.completed_at == datetime(2026, 11, 25, 10, 45, 12, 1, tzinfo=UTC)


def test_a_failed_training_with_null_logs_and_output() -> None:
    body = training_body(status="failed", logs=None, output=None, error="CUDA out of memory")

    training = training_from_json(body)

    assert training.status is UpstreamStatus.FAILED
    assert training.logs == ""
    assert training.output_version is None
    assert training.error == "CUDA out of memory"


def test_a_minimal_training_body() -> None:
    training = training_from_json({"id": "t1", "status": "starting"})

    assert training.logs == ""
    assert training.created_at is None
    assert training.output_version is None


@pytest.mark.parametrize("output", [None, "text", [], {"weights": "w"}, {"version": None}])
def test_training_output_without_a_version(output: Any) -> None:
    assert training_from_json(training_body(output=output)).output_version is None


def test_a_succeeded_prediction_has_its_image_urls() -> None:
    prediction = prediction_from_json(prediction_body())

    assert prediction.id == "gm3qorzdhgbfurvjtvhg6dckhu"
    assert prediction.status is UpstreamStatus.SUCCEEDED
    assert prediction.output == [
        "https://replicate.delivery/xezq/abc/out-0.webp",
        "https://replicate.delivery/xezq/abc/out-1.webp",
    ]
    assert prediction.logs == "Using seed: 42\n"
    assert prediction.completed_at == datetime(2026, 11, 25, 11, 0, 9, 999000, tzinfo=UTC)


def test_a_starting_prediction_with_null_logs_and_output() -> None:
    prediction = prediction_from_json(prediction_body(status="starting", logs=None, output=None))

    assert prediction.status is UpstreamStatus.STARTING
    assert prediction.output == []
    assert prediction.logs == ""


def test_a_single_output_url_becomes_a_list() -> None:
    prediction = prediction_from_json(prediction_body(output="https://replicate.delivery/x.png"))

    assert prediction.output == ["https://replicate.delivery/x.png"]


def test_a_failed_prediction_keeps_its_error() -> None:
    prediction = prediction_from_json(
        prediction_body(status="failed", output=None, error="NSFW content detected")
    )

    assert prediction.error == "NSFW content detected"
    assert prediction.output == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("created_at", "yesterday"), ("started_at", 12), ("completed_at", "")],
)
def test_unreadable_timestamps_are_none(field: str, value: Any) -> None:
    prediction = prediction_from_json(prediction_body(**{field: value}))

    assert getattr(prediction, field) is None


def test_timestamps_without_zone_are_utc() -> None:
    training = training_from_json(training_body(created_at="2026-11-25T10:00:00"))

    assert training.created_at == datetime(2026, 11, 25, 10, tzinfo=UTC)


@pytest.mark.parametrize("parse", [training_from_json, prediction_from_json])
@pytest.mark.parametrize(
    "body",
    [
        {"status": "starting"},
        {"id": None, "status": "starting"},
        {"id": "x", "status": "queued"},
        {"id": "x", "status": None},
        {"id": "x"},
    ],
)
def test_bodies_without_id_or_known_status_are_refused(parse: Any, body: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"id|status"):
        parse(body)


@pytest.mark.parametrize("parse", [training_from_json, prediction_from_json])
@pytest.mark.parametrize("error", ["x" * 9000, "é€𝄞" * 3000])
def test_long_errors_are_cut_to_the_bound(parse: Any, error: str) -> None:
    parsed = parse(training_body(status="failed", error=error))

    assert len(parsed.error) == MAX_UPSTREAM_ERROR_CHARS
    assert parsed.error == error[: MAX_UPSTREAM_ERROR_CHARS - 1] + "…"


def test_an_error_at_the_bound_is_kept_whole() -> None:
    error = "y" * MAX_UPSTREAM_ERROR_CHARS

    assert training_from_json(training_body(status="failed", error=error)).error == error


def test_what_identifies_a_listed_training_is_read() -> None:
    body = training_body(webhook="https://studio.test/webhooks/replicate?training_job=j1")

    training = training_from_json(body)

    assert training.images_url == "https://api.replicate.com/v1/files/abc"
    assert training.webhook == "https://studio.test/webhooks/replicate?training_job=j1"


def test_what_identifies_a_listed_prediction_is_read() -> None:
    body = prediction_body(
        version=f"owner/name:{TRAINED_VERSION_ID}", input={"prompt": "TOK here", "seed": 7}
    )

    prediction = prediction_from_json(body)

    assert (prediction.version, prediction.prompt, prediction.seed) == (
        TRAINED_VERSION_ID,
        "TOK here",
        7,
    )
    assert prediction.webhook is None


@pytest.mark.parametrize("seed", [True, "7", 7.0, None])
def test_a_seed_that_is_not_an_integer_is_none(seed: Any) -> None:
    assert prediction_from_json(prediction_body(input={"seed": seed})).seed is None
