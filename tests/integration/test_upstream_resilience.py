"""What the provider does cannot wedge a job: long errors, lost create answers, a job
whose reconciling raises, a refused cancel."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.generation.models import Generation
from domain.generation.service import GenerationService
from domain.training.service import CANCEL_FAILED_MESSAGE
from domain.upstream import MAX_UPSTREAM_ERROR_CHARS
from tests.fake_replicate import FakeReplicate
from tests.integration.api import error_codes, token_for
from tests.integration.studio import (
    GENERATION_UPDATED,
    TRAINING_PROGRESS,
    Studio,
    local,
    open_studio,
)
from tests.integration.ws import subscribe
from tests.selfies import make_selfies

CANCEL = "mutation($id: ID!) { cancelTraining(id: $id) { id status error } }"
TRAININGS_PATH = "/models/ostris/flux-dev-lora-trainer/versions/"
LONG_ERRORS = {
    "ascii": "Traceback (most recent call last):\n" + "x" * 9000,
    # Multi-byte in UTF-8 and escaped in JSON: 4, 3, 2 bytes, and a 12-byte escape.
    "unicode": "é€𝄞" * 3000,
}
# Webhooks straight to the job, or (without PUBLIC_BASE_URL) the reconciler's polls.
PATHS = {"webhook": {}, "poll": {"public_base_url": None}}


async def follow_training(
    studio: Studio, job_id: str, then: Any, subject: str = "alice"
) -> list[dict[str, Any]]:
    """trainingProgress from now until it completes, after running `then()`."""
    async with subscribe(
        studio.origin, token_for(subject), TRAINING_PROGRESS, {"id": job_id}
    ) as subscription:
        await subscription.next()
        await then()
        return [
            payload["data"]["trainingProgress"]
            for payload in await subscription.payloads_until_complete()
        ]


async def follow_generation(
    studio: Studio, subject: str, generation_id: str, then: Any = None
) -> dict[str, Any]:
    async with subscribe(
        studio.origin, token_for(subject), GENERATION_UPDATED, {"id": generation_id}
    ) as subscription:
        await subscription.next()
        if then is not None:
            await then()
        final = await subscription.payloads_until_complete()
    generation: dict[str, Any] = final[-1]["data"]["generationUpdated"]
    return generation


async def trained(studio: Studio, subject: str, seed: int) -> None:
    """The subject's model trained, whether webhooks or polls report it."""
    body = await studio.start_training(subject, make_selfies(10, first_seed=seed))
    job_id = body["data"]["startTraining"]["trainingJob"]["id"]
    training_id = studio.fake.trainings[-1].id
    updates = await follow_training(
        studio, job_id, lambda: studio.fake.play(training_id), subject=subject
    )
    assert updates[-1]["status"] == "SUCCEEDED"


# -- errors of any length ----------------------------------------------------------------


@pytest.mark.parametrize("error", LONG_ERRORS.values(), ids=LONG_ERRORS.keys())
@pytest.mark.parametrize("path", PATHS.keys())
async def test_a_long_upstream_error_fails_the_training_and_frees_the_user(
    database_url: str,
    data_dir: Path,
    engine: AsyncEngine,
    fake_replicate: FakeReplicate,
    error: str,
    path: str,
) -> None:
    async with open_studio(database_url, data_dir, engine, fake_replicate, **PATHS[path]) as studio:
        body = await studio.start_training("alice", make_selfies(10))
        job_id = body["data"]["startTraining"]["trainingJob"]["id"]
        training_id = fake_replicate.trainings[-1].id

        updates = await follow_training(
            studio, job_id, lambda: fake_replicate.fail(training_id, error)
        )
        again = await studio.start_training("alice", make_selfies(10, first_seed=50))

    assert updates[-1]["status"] == "FAILED"
    assert error not in updates[-1]["error"]
    rows = await studio.rows(
        "SELECT upstream_error FROM training_jobs WHERE id = :id", id=local(job_id)
    )
    stored = rows[0]["upstream_error"]
    assert len(stored) == MAX_UPSTREAM_ERROR_CHARS
    assert stored[:-1] == error[: MAX_UPSTREAM_ERROR_CHARS - 1]
    assert "errors" not in again, again
    assert again["data"]["startTraining"]["trainingJob"]["status"] in ("QUEUED", "STARTING")


@pytest.mark.parametrize("error", LONG_ERRORS.values(), ids=LONG_ERRORS.keys())
async def test_a_long_upstream_error_fails_the_generation(studio: Studio, error: str) -> None:
    await studio.trained("alice")
    body = await studio.maya("alice", "portrait")
    generation_id = body["data"]["generateMaya"]["generation"]["id"]
    prediction_id = studio.fake.predictions[-1].id

    final = await follow_generation(
        studio, "alice", generation_id, lambda: studio.fake.fail_prediction(prediction_id, error)
    )

    assert final["status"] == "FAILED"
    rows = await studio.rows("SELECT upstream_error FROM generations")
    assert len(rows[0]["upstream_error"]) == MAX_UPSTREAM_ERROR_CHARS


# -- one job's failure never stops the others -----------------------------------------------


async def test_a_job_whose_reconciling_raises_does_not_stop_the_others(
    database_url: str,
    data_dir: Path,
    engine: AsyncEngine,
    fake_replicate: FakeReplicate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without webhooks every active job is claimed every round, oldest heard-of first.
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, public_base_url=None
    ) as studio:
        await trained(studio, "alice", 1)
        await trained(studio, "bob", 40)
        body = await studio.maya("alice", "one")
        doomed = local(body["data"]["generateMaya"]["generation"]["id"])
        body = await studio.maya("bob", "two")
        await studio.start_training("carol", make_selfies(10, first_seed=90))
        failing, raised = _raise_for(monkeypatch, studio.runtime.services.generation, doomed)
        monkeypatch.setattr(
            studio.runtime.services.training._jobs, "reconcile_one", _raising_reconcile_job
        )

        async def then() -> None:
            # A round claiming both, the doomed one first (heard of earlier), raises.
            failing.set()
            await asyncio.wait_for(raised.wait(), 10)
            for prediction in fake_replicate.predictions:
                await fake_replicate.succeed_prediction(prediction.id)

        final = await follow_generation(
            studio, "bob", body["data"]["generateMaya"]["generation"]["id"], then
        )

    assert final["status"] == "SUCCEEDED"
    rows = await studio.rows("SELECT status FROM generations WHERE id = :id", id=doomed)
    assert rows == [{"status": "STARTING"}]


def _raise_for(
    monkeypatch: pytest.MonkeyPatch, service: GenerationService, generation_id: str
) -> tuple[asyncio.Event, asyncio.Event]:
    """Reconciling that one generation raises once the first event is set; the second
    is set when it has."""
    failing, raised = asyncio.Event(), asyncio.Event()
    reconcile_one = service._jobs.reconcile_one

    async def reconcile_or_raise(generation: Generation, recent: Any) -> None:
        if failing.is_set() and generation.id == generation_id:
            raised.set()
            raise RuntimeError("a bug met while reconciling this one generation")
        await reconcile_one(generation, recent)

    monkeypatch.setattr(service._jobs, "reconcile_one", reconcile_or_raise)
    return failing, raised


async def _raising_reconcile_job(*_: object) -> None:
    raise RuntimeError("a bug met while reconciling every training")


# -- lost create answers ---------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS.keys())
async def test_a_generation_whose_answer_was_lost_is_adopted_by_the_reconciler(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate, path: str
) -> None:
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, webhook_silence_seconds=0.2, **PATHS[path]
    ) as studio:
        await trained(studio, "alice", 1)
        await trained(studio, "bob", 40)
        fake_replicate.drop_webhooks = True
        # Bob's generation, running meanwhile, must not be mistaken for Alice's.
        await studio.maya("bob", "portrait")
        fake_replicate.fail_next("POST", "/predictions", 500, process=True)
        body = await studio.maya("alice", "portrait")
        generation = body["data"]["generateMaya"]["generation"]
        lost = fake_replicate.predictions[-1].id

        final = await follow_generation(
            studio, "alice", generation["id"], lambda: fake_replicate.succeed_prediction(lost)
        )

    assert generation["status"] == "STARTING"
    assert final["status"] == "SUCCEEDED"
    assert len(final["images"]) == 3
    rows = await studio.rows(
        "SELECT replicate_prediction_id FROM generations WHERE id = :id", id=local(generation["id"])
    )
    assert rows == [{"replicate_prediction_id": lost}]
    assert fake_replicate.calls("GET", "/predictions")
    assert len(fake_replicate.calls("POST", "/predictions")) == 2


@pytest.mark.parametrize("path", PATHS.keys())
async def test_a_training_whose_answer_was_lost_is_adopted_by_the_reconciler(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate, path: str
) -> None:
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, webhook_silence_seconds=0.2, **PATHS[path]
    ) as studio:
        fake_replicate.drop_webhooks = True
        # Another user's training, created just before: not Alice's.
        await studio.start_training("bob", make_selfies(10, first_seed=30))
        fake_replicate.fail_next("POST", TRAININGS_PATH, 500, process=True)
        body = await studio.start_training("alice", make_selfies(10))
        job_id = body["data"]["startTraining"]["trainingJob"]["id"]
        lost = fake_replicate.trainings[-1].id

        updates = await follow_training(studio, job_id, lambda: fake_replicate.play(lost))

    assert updates[-1]["status"] == "SUCCEEDED"
    rows = await studio.rows(
        "SELECT replicate_training_id FROM training_jobs WHERE id = :id", id=local(job_id)
    )
    assert rows == [{"replicate_training_id": lost}]
    assert len(fake_replicate.trainings) == 2


async def test_a_training_canceled_while_its_start_was_unanswered_is_canceled_upstream(
    studio: Studio,
) -> None:
    # Until the cancel, the reconciler cannot list trainings (so cannot adopt it first).
    studio.fake.fail_next("GET", "/trainings", 403, times=1_000_000)
    studio.fake.fail_next("POST", TRAININGS_PATH, 500, process=True)
    body = await studio.start_training("alice", make_selfies(10))
    job_id = body["data"]["startTraining"]["trainingJob"]["id"]
    lost = studio.fake.trainings[-1]

    canceled = await studio.api.graphql(CANCEL, token=token_for("alice"), variables={"id": job_id})
    studio.fake.clear_failures()
    await studio.fake.wait_for(lambda: lost.status == "canceled")

    assert canceled["data"]["cancelTraining"]["status"] == "CANCELED"
    assert studio.fake.calls("POST", f"/trainings/{lost.id}/cancel")
    assert (await studio.job("alice", job_id))["status"] == "CANCELED"


# -- a refused cancel --------------------------------------------------------------------------


async def test_a_refused_cancel_answers_a_stable_message_without_the_providers_words(
    studio: Studio,
) -> None:
    body = await studio.start_training("alice", make_selfies(10))
    await studio.fake.settle()
    job_id = body["data"]["startTraining"]["trainingJob"]["id"]
    training_id = studio.fake.trainings[-1].id
    studio.fake.fail_next("POST", f"/trainings/{training_id}/cancel", 422)
    before = await studio.job("alice", job_id)

    answer = await studio.api.graphql(CANCEL, token=token_for("alice"), variables={"id": job_id})

    assert error_codes(answer) == ["UPSTREAM_UNAVAILABLE"]
    assert answer["errors"][0]["message"] == CANCEL_FAILED_MESSAGE
    assert "injected" not in str(answer)
    assert await studio.job("alice", job_id) == before
    assert studio.fake.snapshot(training_id)["status"] != "canceled"
