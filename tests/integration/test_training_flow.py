"""Training end to end through the fake Replicate: the happy path and its webhooks."""

import io
import zipfile

from PIL import Image

from domain.webhook_links import WebhookKind
from tests.fake_replicate import TRAINER_VERSION
from tests.integration.api import token_for
from tests.integration.studio import TRAINING_PROGRESS, Studio, local
from tests.integration.ws import subscribe
from tests.selfies import make_selfies


async def test_a_training_runs_from_selfies_to_a_ready_model(studio: Studio) -> None:
    fake = studio.fake
    body = await studio.start_training("alice", make_selfies(12))

    started = body["data"]["startTraining"]
    job, model = started["trainingJob"], started["model"]
    user_id = (await studio.rows("SELECT id FROM users WHERE subject = 'alice'"))[0]["id"]
    assert job["status"] == "STARTING"
    assert job["imageCount"] == 12
    assert model["status"] == "TRAINING"
    assert model["replicateModelId"] == f"sandrasocial/{user_id}-selfie-lora"
    assert model["triggerWord"] == f"user{user_id}"
    assert model["replicateVersionId"] is None

    # The user's own model was created private, then trained with the locked trainer.
    created = fake.calls("POST", "/models")[0]
    assert created.json == {
        "owner": "sandrasocial",
        "name": f"{user_id}-selfie-lora",
        "visibility": "private",
        "hardware": "cpu",
        "description": "A personal selfie LoRA.",
    }
    training_request = fake.calls(
        "POST", f"/models/ostris/flux-dev-lora-trainer/versions/{TRAINER_VERSION}/trainings"
    )[0]
    assert training_request.json is not None
    assert training_request.json["destination"] == f"sandrasocial/{user_id}-selfie-lora"
    assert training_request.json["input"]["trigger_word"] == f"user{user_id}"
    assert training_request.json["webhook"] == await studio.webhook_url(
        WebhookKind.TRAINING, local(job["id"])
    )
    assert training_request.json["webhook_events_filter"] == ["start", "logs", "completed"]

    # What the trainer receives: the normalised selfies, zipped.
    archive = zipfile.ZipFile(
        io.BytesIO(fake.file_bytes(training_request.json["input"]["input_images"]))
    )
    assert len(archive.namelist()) == 12
    first = Image.open(io.BytesIO(archive.read(archive.namelist()[0])))
    assert (first.format, first.mode) == ("JPEG", "RGB")

    training_id = fake.trainings[-1].id
    await fake.advance(training_id, 500, total=1000)
    await fake.settle()
    halfway = await studio.job("alice", job["id"])
    assert (halfway["status"], halfway["progress"]) == ("PROCESSING", 0.5)
    assert halfway["replicateTrainingId"] == training_id

    version_id = await fake.succeed(training_id)
    await fake.settle()
    done = await studio.job("alice", job["id"])
    assert (done["status"], done["progress"]) == ("SUCCEEDED", 1.0)
    assert done["completedAt"] is not None
    ready = await studio.model("alice")
    assert ready is not None
    assert ready["status"] == "READY"
    assert ready["replicateVersionId"] == version_id
    assert ready["trainedAt"] is not None
    assert ready["activeTraining"] is None
    names = await studio.rows("SELECT input_names FROM user_models")
    assert names[0]["input_names"]["guidance"] == "guidance_scale"


async def test_the_subscription_follows_a_training_to_its_end(studio: Studio) -> None:
    fake = studio.fake
    body = await studio.start_training("alice", make_selfies(10))
    job_id = body["data"]["startTraining"]["trainingJob"]["id"]
    training_id = fake.trainings[-1].id

    async with subscribe(
        studio.origin, token_for("alice"), TRAINING_PROGRESS, {"id": job_id}
    ) as subscription:
        first = await subscription.next()
        await fake.start_processing(training_id)
        second = await subscription.next()
        await fake.advance(training_id, 250, total=1000)
        third = await subscription.next()
        await fake.advance(training_id, 750, total=1000)
        fourth = await subscription.next()
        await fake.succeed(training_id)
        rest = await subscription.payloads_until_complete()

    states = [
        (
            message["payload"]["data"]["trainingProgress"]["status"],
            message["payload"]["data"]["trainingProgress"]["progress"],
        )
        for message in (first, second, third, fourth)
    ]
    assert states == [
        ("STARTING", 0.0),
        ("PROCESSING", 0.0),
        ("PROCESSING", 0.25),
        ("PROCESSING", 0.75),
    ]
    assert [p["data"]["trainingProgress"]["status"] for p in rest] == ["SUCCEEDED"]
    assert rest[-1]["data"]["trainingProgress"]["progress"] == 1.0


async def test_without_an_id_the_subscription_follows_the_active_training(studio: Studio) -> None:
    body = await studio.start_training("alice", make_selfies(10))
    job_id = body["data"]["startTraining"]["trainingJob"]["id"]

    async with subscribe(studio.origin, token_for("alice"), TRAINING_PROGRESS) as subscription:
        first = await subscription.next()

    assert first["payload"]["data"]["trainingProgress"]["id"] == job_id


async def test_duplicate_and_reordered_webhooks_leave_the_right_state(studio: Studio) -> None:
    fake = studio.fake
    fake.duplicate_webhooks = True
    fake.reorder_webhooks = True
    body = await studio.start_training("alice", make_selfies(10))
    job_id = body["data"]["startTraining"]["trainingJob"]["id"]
    training_id = fake.trainings[-1].id

    await fake.advance(training_id, 300, total=1000)
    await fake.advance(training_id, 600, total=1000)
    await fake.succeed(training_id)
    await fake.settle()

    job = await studio.job("alice", job_id)
    assert (job["status"], job["progress"]) == ("SUCCEEDED", 1.0)
    delivered = [d for d in fake.deliveries if d.status_code is not None]
    assert delivered
    assert all(d.status_code == 200 for d in delivered)
    assert await studio.count("webhook_deliveries") == len({d.webhook_id for d in delivered})
