"""Canceling, training again, failures, and whose trainings are whose."""

import pytest

from tests.integration.api import error_codes, token_for
from tests.integration.studio import TRAINING_PROGRESS, Studio
from tests.integration.ws import subscribe
from tests.selfies import make_selfies

CANCEL = "mutation($id: ID!) { cancelTraining(id: $id) { id status error } }"


async def start(studio: Studio, subject: str = "alice", seed: int = 1) -> tuple[str, str]:
    body = await studio.start_training(subject, make_selfies(10, first_seed=seed))
    await studio.fake.settle()
    return body["data"]["startTraining"]["trainingJob"]["id"], studio.fake.trainings[-1].id


async def test_cancel_stops_the_training_upstream(studio: Studio) -> None:
    job_id, training_id = await start(studio)

    body = await studio.api.graphql(CANCEL, token=token_for("alice"), variables={"id": job_id})

    assert body["data"]["cancelTraining"]["status"] == "CANCELED"
    assert "canceled" in body["data"]["cancelTraining"]["error"]
    assert studio.fake.snapshot(training_id)["status"] == "canceled"
    model = await studio.model("alice")
    assert model is not None
    assert model["status"] == "FAILED"


async def test_cancel_refuses_other_users_unknown_and_finished_jobs(studio: Studio) -> None:
    job_id, training_id = await start(studio)
    await studio.start_training("bob", make_selfies(10, first_seed=40))
    requests_before = len(studio.fake.requests)

    someone_elses = await studio.api.graphql(
        CANCEL, token=token_for("bob"), variables={"id": job_id}
    )
    unknown = await studio.api.graphql(CANCEL, token=token_for("alice"), variables={"id": "bm9wZQ"})
    assert error_codes(someone_elses) == ["NOT_FOUND"]
    assert error_codes(unknown) == ["NOT_FOUND"]
    assert someone_elses["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert len(studio.fake.requests) == requests_before
    assert (await studio.job("alice", job_id))["status"] == "STARTING"

    await studio.fake.play(training_id)
    await studio.fake.settle()
    finished = await studio.api.graphql(CANCEL, token=token_for("alice"), variables={"id": job_id})
    assert error_codes(finished) == ["BAD_USER_INPUT"]


async def test_another_users_training_is_invisible(studio: Studio) -> None:
    job_id, _ = await start(studio)
    await studio.start_training("bob", make_selfies(10, first_seed=40))

    node = await studio.api.graphql(
        "query($id: ID!) { node(id: $id) { id } }", token=token_for("bob"), variables={"id": job_id}
    )
    async with subscribe(studio.origin, token_for("bob"), TRAINING_PROGRESS, {"id": job_id}) as sub:
        message = await sub.next()

    assert node == {"data": {"node": None}}
    assert message["type"] == "next"
    assert error_codes(message["payload"]) == ["NOT_FOUND"]


async def test_a_failed_first_training_leaves_the_model_failed(studio: Studio) -> None:
    job_id, training_id = await start(studio)

    await studio.fake.fail(training_id, "CUDA out of memory")
    await studio.fake.settle()

    job = await studio.job("alice", job_id)
    model = await studio.model("alice")
    assert job["status"] == "FAILED"
    assert "CUDA" not in job["error"]
    assert "try again" in job["error"]
    assert model is not None
    assert (model["status"], model["replicateVersionId"]) == ("FAILED", None)
    rows = await studio.rows("SELECT upstream_error FROM training_jobs")
    assert rows[0]["upstream_error"] == "CUDA out of memory"


async def test_a_failed_retraining_keeps_the_previous_version(studio: Studio) -> None:
    _, first_training = await start(studio)
    first_version = await studio.fake.play(first_training)
    await studio.fake.settle()

    job_id, second_training = await start(studio, seed=60)
    during = await studio.model("alice")
    await studio.fake.fail(second_training)
    await studio.fake.settle()

    after = await studio.model("alice")
    job = await studio.job("alice", job_id)
    assert during is not None
    assert (during["status"], during["replicateVersionId"]) == ("READY", first_version)
    assert during["activeTraining"]["id"] == job_id
    assert after is not None
    assert (after["status"], after["replicateVersionId"]) == ("READY", first_version)
    assert "previous model stays in use" in job["error"]


async def test_a_successful_retraining_switches_to_the_new_version(studio: Studio) -> None:
    _, first_training = await start(studio)
    await studio.fake.play(first_training)
    await studio.fake.settle()
    _, second_training = await start(studio, seed=60)

    second_version = await studio.fake.play(second_training)
    await studio.fake.settle()

    model = await studio.model("alice")
    assert model is not None
    assert (model["status"], model["replicateVersionId"]) == ("READY", second_version)
    assert (
        len(studio.fake.calls("POST", "/models")) - len(studio.fake.calls("POST", "/models/")) == 1
    )


@pytest.mark.parametrize("guidance_name", ["guidance", "guidance_scale"])
async def test_the_versions_spelling_of_guidance_is_recorded(
    studio: Studio, guidance_name: str
) -> None:
    studio.fake.guidance_name = guidance_name
    _, training_id = await start(studio)

    await studio.fake.play(training_id)
    await studio.fake.settle()

    rows = await studio.rows("SELECT input_names, unusable_reason FROM user_models")
    assert rows[0]["input_names"]["guidance"] == guidance_name
    assert rows[0]["unusable_reason"] is None


async def test_a_version_that_cannot_take_the_locked_inputs_is_recorded_unusable(
    studio: Studio,
) -> None:
    studio.fake.drop_version_inputs = {"lora_scale"}
    job_id, training_id = await start(studio)

    version = await studio.fake.play(training_id)
    await studio.fake.settle()

    job = await studio.job("alice", job_id)
    rows = await studio.rows(
        "SELECT status, replicate_version_id, unusable_reason FROM user_models"
    )
    assert job["status"] == "FAILED"
    assert "lora_scale" in job["error"]
    assert rows[0]["replicate_version_id"] == version
    assert rows[0]["status"] == "FAILED"
    assert "lora_scale" in rows[0]["unusable_reason"]
