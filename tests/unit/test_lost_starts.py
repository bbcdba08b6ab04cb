"""Which listed training or prediction a job whose create answer was lost adopts."""

from dataclasses import replace

from domain.generation.kind import is_generations_prediction
from domain.generation.models import Generation, GenerationSource, GenerationStatus
from domain.generation.parameters import locked_parameters
from domain.training.kind import is_jobs_training
from domain.training.models import TrainingJob
from domain.upstream import UpstreamPrediction, UpstreamStatus, UpstreamTraining
from tests.unit.training.jobs import training_job

HOOK = "https://studio.test/webhooks/replicate"


def job(images_url: str | None = "https://api.test/v1/files/f1") -> TrainingJob:
    return training_job(images_url=images_url)


def generation() -> Generation:
    return Generation(
        id="gen-1",
        user_id="u1",
        source=GenerationSource.MAYA,
        replicate_version="owner/u1-selfie-lora:v1",
        style_id=None,
        prompt="TOK smiling",
        parameters=locked_parameters(),
        status=GenerationStatus.STARTING,
        replicate_prediction_id=None,
    )


def test_a_training_is_the_jobs_by_its_upload() -> None:
    training = UpstreamTraining("t1", UpstreamStatus.STARTING, images_url=job().images_url)

    assert is_jobs_training(job(), training)
    assert not is_jobs_training(job(), replace(training, images_url="https://api.test/v1/files/f2"))
    assert not is_jobs_training(job(images_url=None), replace(training, images_url=None))


def test_a_training_is_the_jobs_by_the_webhook_url_when_reported() -> None:
    ours = UpstreamTraining("t1", UpstreamStatus.STARTING, webhook=f"{HOOK}?training_job=job-1")
    theirs = replace(ours, webhook=f"{HOOK}?training_job=job-2", images_url=job().images_url)

    assert is_jobs_training(job(), ours)
    assert not is_jobs_training(job(), theirs)


def test_a_prediction_is_the_generations_by_version_prompt_and_seed() -> None:
    mine = generation()
    prediction = UpstreamPrediction(
        "p1", UpstreamStatus.STARTING, version="v1", prompt=mine.prompt, seed=mine.parameters.seed
    )

    assert is_generations_prediction(mine, prediction)
    assert not is_generations_prediction(mine, replace(prediction, version="v2"))
    assert not is_generations_prediction(mine, replace(prediction, prompt="TOK frowning"))
    assert not is_generations_prediction(mine, replace(prediction, seed=mine.parameters.seed + 1))
    assert not is_generations_prediction(mine, replace(prediction, seed=None))


def test_a_prediction_is_the_generations_by_the_webhook_url_when_reported() -> None:
    mine = generation()
    named = UpstreamPrediction("p1", UpstreamStatus.STARTING, webhook=f"{HOOK}?generation=gen-1")

    assert is_generations_prediction(mine, named)
    assert not is_generations_prediction(
        mine,
        replace(
            named,
            webhook=f"{HOOK}?generation=gen-2",
            version="v1",
            prompt=mine.prompt,
            seed=mine.parameters.seed,
        ),
    )
