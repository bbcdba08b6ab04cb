"""The fake Replicate server, over real HTTP on loopback, with a webhook receiver of our own."""

import base64
import hashlib
import hmac
import io
import json
import re
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.errors import UpstreamRejected
from domain.upstream import FileUpload
from replicate_client import ReplicateClient
from tests.fake_replicate import TRAINER_VERSION, FakeReplicate, Job, LoopbackServer

OWNER = "sandrasocial"
MODEL = "user-1-selfie-lora"
DESTINATION = f"{OWNER}/{MODEL}"
TRAININGS_PATH = f"/models/ostris/flux-dev-lora-trainer/versions/{TRAINER_VERSION}/trainings"
PROGRESS = re.compile(r"flux_train_replicate:\s*(\d+)%\|[^|]*\|\s*(\d+)/(\d+)")
TRAINING_BAR = re.compile(
    r"^flux_train_replicate:  83%\|████████▎ \| 2482/3000 "
    r"\[\d\d:\d\d<\d\d:\d\d,  1\.05s/it, lr: 4\.0e-04 loss: \d\.\d{3}e-0\d\]$"
)


# A webhook receiver that checks signatures its own way


@dataclass
class Received:
    webhook_id: str
    valid: bool
    query: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    secret: str = ""
    failures_left: int = 0
    received: list[Received] = field(default_factory=list)

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        webhook_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
        key = base64.b64decode(self.secret.split("_", 1)[1])
        digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
        expected = base64.b64encode(digest.digest()).decode()
        entries = headers["webhook-signature"].split()
        signatures = [entry[3:] for entry in entries if entry.startswith("v1,")]
        fresh = abs(time.time() - int(timestamp)) < 300
        return fresh and any(hmac.compare_digest(expected, given) for given in signatures)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        valid = self.verify(headers, body)
        query = dict(request.query_params)
        self.received.append(Received(headers["webhook-id"], valid, query, json.loads(body)))
        if self.failures_left > 0:
            self.failures_left -= 1
            return Response(status_code=500)
        return Response(status_code=204)

    @property
    def statuses(self) -> list[str]:
        return [received.body["status"] for received in self.received]


@pytest.fixture(scope="module")
async def receiver_server() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    async with LoopbackServer(app) as server:
        yield receiver, f"{server.origin}/hook"


@pytest.fixture
async def fake() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate(token="test-token") as started:
        yield started


@pytest.fixture
async def client(fake: FakeReplicate) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": "Bearer test-token"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, trust_env=False) as c:
        yield c


@pytest.fixture
async def receiver(receiver_server: tuple[Receiver, str], client: httpx.AsyncClient) -> Receiver:
    receiver, _ = receiver_server
    receiver.received.clear()
    receiver.failures_left = 0
    receiver.secret = (await client.get("/webhooks/default/secret")).json()["key"]
    return receiver


@pytest.fixture
def hook_url(receiver_server: tuple[Receiver, str]) -> str:
    return receiver_server[1] + "?job=job-42"


# Helpers


def selfies_zip(count: int = 3) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            archive.writestr(f"selfie-{index}.jpg", b"\xff\xd8 not really a jpeg")
        archive.writestr("selfie-0.txt", "a photo of TOK")
    return buffer.getvalue()


async def create_model(client: httpx.AsyncClient, name: str = MODEL) -> httpx.Response:
    body = {
        "owner": OWNER,
        "name": name,
        "visibility": "private",
        "hardware": "cpu",
        "description": "selfies",
    }
    return await client.post("/models", json=body)


async def upload(client: httpx.AsyncClient, content: bytes) -> dict[str, Any]:
    files = {"content": ("selfies.zip", content, "application/zip")}
    data = {"filename": "selfies.zip", "type": "application/zip", "metadata": '{"user": "1"}'}
    response = await client.post("/files", files=files, data=data)
    assert response.status_code == 201
    uploaded: dict[str, Any] = response.json()
    return uploaded


async def training_body(
    client: httpx.AsyncClient,
    webhook: str | None = None,
    events: list[str] | None = None,
    steps: int = 1000,
) -> dict[str, Any]:
    """Creates the destination if needed and uploads the selfies."""
    if (await client.get(f"/models/{DESTINATION}")).status_code == 404:
        await create_model(client)
    images = (await upload(client, selfies_zip()))["urls"]["get"]
    body: dict[str, Any] = {
        "destination": DESTINATION,
        "input": {"input_images": images, "steps": steps},
    }
    if webhook is not None:
        body["webhook"] = webhook
        body["webhook_events_filter"] = events or ["start", "logs", "completed"]
    return body


async def start_training(
    client: httpx.AsyncClient,
    webhook: str | None = None,
    events: list[str] | None = None,
    steps: int = 1000,
) -> dict[str, Any]:
    body = await training_body(client, webhook, events, steps)
    response = await client.post(TRAININGS_PATH, json=body)
    assert response.status_code == 201, response.text
    training: dict[str, Any] = response.json()
    return training


def finished(fake: FakeReplicate, job_id: str) -> Job | None:
    job = fake.jobs.get(job_id)
    return job if job is not None and job.terminal else None


def events_of(fake: FakeReplicate, receiver: Receiver) -> list[str]:
    event_by_id = {delivery.webhook_id: delivery.event for delivery in fake.deliveries}
    return [event_by_id[received.webhook_id] for received in receiver.received]


# Models, files, authentication, failures


async def test_models_are_created_once_then_read_back(client: httpx.AsyncClient) -> None:
    created = await create_model(client)
    again = await create_model(client)
    invalid = await create_model(client, name="User_1!")
    foreign_body = {"owner": "someone", "name": "x", "visibility": "private", "hardware": "cpu"}
    foreign = await client.post("/models", json=foreign_body)

    assert created.status_code == 201
    assert created.json()["name"] == MODEL
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert set(again.json()) >= {"title", "detail", "status"}
    assert invalid.status_code == 422
    assert foreign.status_code == 403
    assert (await client.get(f"/models/{DESTINATION}")).json()["visibility"] == "private"
    assert (await client.get(f"/models/{OWNER}/nobody")).status_code == 404


async def test_the_model_limit_is_enforced(fake: FakeReplicate, client: httpx.AsyncClient) -> None:
    fake.max_models_per_owner = 1

    assert (await create_model(client, "a")).status_code == 201
    refused = await create_model(client, "b")

    assert refused.status_code == 403
    assert "model limit reached" in refused.json()["detail"]


async def test_requests_without_the_token_are_refused(fake: FakeReplicate) -> None:
    async with httpx.AsyncClient(trust_env=False) as anonymous:
        response = await anonymous.get(f"{fake.base_url}/models/{DESTINATION}")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_fail_next_throttles_then_lets_through(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    fake.fail_next("POST", "/models", 429, retry_after=3)

    throttled = await create_model(client)
    created = await create_model(client)

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "3"
    assert created.status_code == 201
    assert [call.status for call in fake.calls("POST", "/v1/models")] == [429, 201]


async def test_a_processed_request_can_still_answer_500(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    body = await training_body(client)
    fake.fail_next("POST", "/models/ostris", 500, process=True)

    answer = await client.post(TRAININGS_PATH, json=body)

    assert answer.status_code == 500
    assert len(fake.trainings) == 1
    listed = (await client.get("/trainings")).json()["results"]
    assert [training["id"] for training in listed] == [fake.trainings[0].id]


async def test_uploaded_files_are_kept(fake: FakeReplicate, client: httpx.AsyncClient) -> None:
    uploaded = await upload(client, b"zip bytes")

    fetched = (await client.get(f"/files/{uploaded['id']}")).json()

    assert fetched == uploaded
    assert uploaded["urls"]["get"] == f"{fake.base_url}/files/{uploaded['id']}"
    assert uploaded["metadata"] == {"user": "1"}
    assert uploaded["size"] == len(b"zip bytes")
    assert fake.file_bytes(uploaded["urls"]["get"]) == b"zip bytes"


# Trainings


async def test_a_training_needs_an_uploaded_file_and_an_existing_destination(
    client: httpx.AsyncClient,
) -> None:
    images = (await upload(client, selfies_zip()))["urls"]["get"]
    body = {"destination": DESTINATION, "input": {"input_images": images}}

    missing = await client.post(TRAININGS_PATH, json=body)
    await create_model(client)
    foreign_file = await client.post(
        TRAININGS_PATH, json={**body, "input": {"input_images": "https://example.com/a.zip"}}
    )
    wrong_trainer = await client.post(TRAININGS_PATH.replace("26dce", "00000"), json=body)
    created = await client.post(TRAININGS_PATH, json=body)

    assert missing.status_code == 404
    assert missing.json()["detail"] == "The specified training destination does not exist"
    assert foreign_file.status_code == 422
    assert wrong_trainer.status_code == 404
    assert created.status_code == 201
    training = created.json()
    assert training["status"] == "starting"
    assert training["model"] == "ostris/flux-dev-lora-trainer"
    assert training["output"] is None
    assert training["urls"]["get"].endswith(f"/v1/trainings/{training['id']}")


async def test_play_sends_signed_webhooks_in_order(
    fake: FakeReplicate, client: httpx.AsyncClient, receiver: Receiver, hook_url: str
) -> None:
    training = await start_training(client, webhook=hook_url, steps=3000)

    await fake.play(training["id"], steps=[1000, 2482])
    await fake.settle()

    assert events_of(fake, receiver) == ["start", "logs", "logs", "logs", "completed"]
    assert receiver.statuses == ["starting", "processing", "processing", "processing", "succeeded"]
    assert all(received.valid for received in receiver.received)
    assert all(received.query == {"job": "job-42"} for received in receiver.received)
    final = receiver.received[-1].body
    assert final == (await client.get(f"/trainings/{training['id']}")).json()
    assert final["output"]["version"].startswith(f"{DESTINATION}:")
    logs = final["logs"]
    assert "Loading checkpoint shards: 100%|██████████| 3/3" in logs
    assert any(TRAINING_BAR.match(line) for line in logs.splitlines())
    assert PROGRESS.findall(logs)[-1] == ("100", "3000", "3000")


async def test_a_training_whose_input_is_not_a_zip_fails(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    await create_model(client)
    images = (await upload(client, b"one selfie, not a zip"))["urls"]["get"]
    body = {"destination": DESTINATION, "input": {"input_images": images}}
    training = (await client.post(TRAININGS_PATH, json=body)).json()

    with pytest.raises(ValueError, match="failed at start"):
        await fake.start_processing(training["id"])

    assert (await client.get(f"/trainings/{training['id']}")).json()["status"] == "failed"


async def test_duplicated_webhooks_keep_their_id(
    fake: FakeReplicate, client: httpx.AsyncClient, receiver: Receiver, hook_url: str
) -> None:
    fake.duplicate_webhooks = True
    training = await start_training(client, webhook=hook_url)

    await fake.play(training["id"], steps=[500])
    await fake.settle()

    ids = [received.webhook_id for received in receiver.received]
    assert len(ids) == 8
    assert all(ids.count(webhook_id) == 2 for webhook_id in ids)


async def test_dropped_webhooks_never_arrive(
    fake: FakeReplicate, client: httpx.AsyncClient, receiver: Receiver, hook_url: str
) -> None:
    fake.drop_webhooks = True
    training = await start_training(client, webhook=hook_url)

    await fake.play(training["id"])
    await fake.settle()

    assert receiver.received == []
    assert len(fake.dropped_webhooks) == 6


async def test_the_terminal_webhook_is_retried_but_not_the_others(
    fake: FakeReplicate, client: httpx.AsyncClient, receiver: Receiver, hook_url: str
) -> None:
    fake.retry_backoff = (0.0, 0.0, 0.0)
    training = await start_training(client, webhook=hook_url, events=["logs", "completed"])
    receiver.failures_left = 1
    await fake.start_processing(training["id"])
    await fake.settle()
    receiver.failures_left = 2

    await fake.succeed(training["id"])
    await fake.settle()

    attempts = [(delivery.event, delivery.status_code) for delivery in fake.deliveries]
    assert attempts == [("logs", 500), ("completed", 500), ("completed", 500), ("completed", 204)]
    assert len({received.webhook_id for received in receiver.received[1:]}) == 1


async def test_held_webhooks_are_released_in_the_asked_order(
    fake: FakeReplicate, client: httpx.AsyncClient, receiver: Receiver, hook_url: str
) -> None:
    training = await start_training(client, webhook=hook_url, events=["logs", "completed"])
    fake.hold_webhooks()
    await fake.play(training["id"], steps=[])

    await fake.release_webhooks(order="reversed")

    assert receiver.statuses == ["succeeded", "processing"]


async def test_reordered_webhooks_deliver_completed_before_the_last_logs(
    fake: FakeReplicate, client: httpx.AsyncClient, receiver: Receiver, hook_url: str
) -> None:
    fake.reorder_webhooks = True
    training = await start_training(client, webhook=hook_url, events=["logs", "completed"])

    await fake.play(training["id"], steps=[])
    await fake.settle()

    assert receiver.statuses == ["succeeded", "processing"]


async def test_cancel_answers_and_sends_completed(
    fake: FakeReplicate, client: httpx.AsyncClient, receiver: Receiver, hook_url: str
) -> None:
    training = await start_training(client, webhook=hook_url, events=["completed"])

    canceled = await client.post(f"/trainings/{training['id']}/cancel")
    await fake.settle()

    assert canceled.json()["status"] == "canceled"
    assert receiver.statuses == ["canceled"]


async def test_trainings_are_listed_newest_first_in_pages(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    fake.page_size = 2
    ids = [(await start_training(client))["id"] for _ in range(3)]

    first = (await client.get("/trainings")).json()
    second = (await client.get(first["next"])).json()

    assert [training["id"] for training in first["results"]] == ids[:0:-1]
    assert [training["id"] for training in second["results"]] == ids[:1]
    assert "cursor=" in first["next"]
    assert second["next"] is None
    assert (await client.get(second["previous"])).json()["results"] == first["results"]


async def test_auto_play_finishes_trainings_and_predictions(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    training = await start_training(client)
    fake.auto_play(step_seconds=0.001, steps=3)

    job = await fake.wait_for(lambda: finished(fake, training["id"]))
    body = {"version": job.output["version"], "input": {"prompt": "TOK"}}
    created = (await client.post("/predictions", json=body)).json()
    prediction = await fake.wait_for(lambda: finished(fake, created["id"]))
    fake.stop_auto_play()

    assert created["status"] == "starting"
    assert job.status == "succeeded"
    assert PROGRESS.findall(job.logs)[-1] == ("100", "1000", "1000")
    assert prediction.status == "succeeded"


# Versions and predictions


async def test_a_trained_version_publishes_its_input_schema(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    training = await start_training(client)
    unknown = await client.get(f"/models/{DESTINATION}/versions/{'0' * 64}")
    version_id = await fake.play(training["id"])

    url = f"/models/{DESTINATION}/versions/{version_id}"
    schema = (await client.get(url)).json()["openapi_schema"]
    fake.guidance_name = "guidance"
    fake.drop_version_inputs = {"lora_scale"}
    changed = (await client.get(url)).json()["openapi_schema"]["components"]["schemas"]

    assert unknown.status_code == 404
    schemas = schema["components"]["schemas"]
    properties = schemas["Input"]["properties"]
    assert properties["guidance_scale"]["maximum"] == 10
    assert properties["num_outputs"]["maximum"] == 4
    assert properties["seed"]["type"] == "integer"
    aspect_ref = properties["aspect_ratio"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]
    assert "3:4" in schemas[aspect_ref]["enum"]
    assert "guidance" in changed["Input"]["properties"]
    assert "guidance_scale" not in changed["Input"]["properties"]
    assert "lora_scale" not in changed["Input"]["properties"]


async def test_a_prediction_serves_its_images_until_they_expire(
    fake: FakeReplicate, client: httpx.AsyncClient, receiver: Receiver, hook_url: str
) -> None:
    version_id = await fake.play((await start_training(client))["id"])
    body: dict[str, Any] = {
        "version": f"{DESTINATION}:{version_id}",
        "input": {"prompt": "TOK", "num_outputs": 2, "output_format": "png", "aspect_ratio": "3:4"},
        "webhook": hook_url,
        "webhook_events_filter": ["completed"],
    }
    unknown = await client.post("/predictions", json={**body, "version": "f" * 64})
    too_strong = {"prompt": "TOK", "guidance_scale": 11}
    invalid = await client.post("/predictions", json={**body, "input": too_strong})
    created = (await client.post("/predictions", json=body)).json()

    await fake.succeed_prediction(created["id"])
    await fake.settle()
    outputs = receiver.received[0].body["output"]
    images = [await client.get(url) for url in outputs]
    await fake.expire_outputs(created["id"])

    assert unknown.status_code == 422
    assert invalid.status_code == 422
    assert created["status"] == "starting"
    assert receiver.statuses == ["succeeded"]
    assert [image.headers["content-type"] for image in images] == ["image/png", "image/png"]
    decoded = [Image.open(io.BytesIO(image.content)) for image in images]
    assert decoded[0].size == (880, 1184)
    assert decoded[0].getpixel((0, 0)) != decoded[1].getpixel((0, 0))
    assert [(await client.get(url)).status_code for url in outputs] == [404, 404]


# Deleting


MODEL_HAS_VERSIONS = "This model has versions. Delete them before deleting the model."


async def trained_version(fake: FakeReplicate, client: httpx.AsyncClient) -> str:
    return await fake.play((await start_training(client))["id"])


async def finished_prediction(fake: FakeReplicate, client: httpx.AsyncClient, version: str) -> str:
    body = {"version": f"{DESTINATION}:{version}", "input": {"prompt": "TOK"}}
    created = (await client.post("/predictions", json=body)).json()
    await fake.succeed_prediction(created["id"])
    prediction_id: str = created["id"]
    return prediction_id


async def test_a_model_is_deleted_only_once_its_versions_are(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    version_id = await trained_version(fake, client)
    await finished_prediction(fake, client, version_id)
    version_path = f"/models/{DESTINATION}/versions/{version_id}"

    refused = await client.delete(f"/models/{DESTINATION}")
    listed = (await client.get(f"/models/{DESTINATION}/versions")).json()
    deleted_version = await client.delete(version_path)
    version_again = await client.delete(version_path)
    deleted_model = await client.delete(f"/models/{DESTINATION}")
    model_again = await client.delete(f"/models/{DESTINATION}")

    assert refused.status_code == 409
    assert refused.json()["detail"] == MODEL_HAS_VERSIONS
    assert [version["id"] for version in listed["results"]] == [version_id]
    assert (deleted_version.status_code, version_again.status_code) == (204, 404)
    assert (deleted_model.status_code, model_again.status_code) == (204, 404)
    assert (await client.get(version_path)).status_code == 404
    assert (await client.get(f"/models/{DESTINATION}")).status_code == 404
    assert (await client.get(f"/models/{DESTINATION}/versions")).status_code == 404
    assert (await create_model(client)).status_code == 409  # the name stays taken
    assert fake.deletes() == [f"/v1{version_path}"] * 2 + [f"/v1/models/{DESTINATION}"] * 2


async def test_a_deleted_version_takes_its_predictions_along(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    version_id = await trained_version(fake, client)
    prediction_id = await finished_prediction(fake, client, version_id)
    outputs = fake.jobs[prediction_id].output
    assert (await client.get(outputs[0])).status_code == 200

    await client.delete(f"/models/{DESTINATION}/versions/{version_id}")

    assert (await client.get(f"/predictions/{prediction_id}")).status_code == 404
    assert (await client.get("/predictions")).json()["results"] == []
    assert (await client.get(outputs[0])).status_code == 404
    again = {"version": f"{DESTINATION}:{version_id}", "input": {"prompt": "TOK"}}
    assert (await client.post("/predictions", json=again)).status_code == 422
    assert fake.trainings[0].status == "succeeded"  # the training itself stays


async def test_only_private_models_of_the_account_can_be_deleted(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    await create_model(client)
    trainer = f"/models/ostris/flux-dev-lora-trainer/versions/{TRAINER_VERSION}"

    async with httpx.AsyncClient(trust_env=False) as anonymous:
        unauthenticated = await anonymous.delete(f"{fake.base_url}/models/{DESTINATION}")
    public = await client.delete(trainer)
    unknown = await client.delete(f"/models/{OWNER}/nobody")

    assert unauthenticated.status_code == 401
    assert public.status_code == 403
    assert unknown.status_code == 404
    assert (await client.get(f"/models/{DESTINATION}")).status_code == 200
    assert fake.deletes() == [f"/v1/models/{OWNER}/nobody"]


async def test_deleting_a_model_frees_its_slot_but_not_its_name(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    fake.max_models_per_owner = 1
    assert (await create_model(client, "a")).status_code == 201

    deleted = await client.delete(f"/models/{OWNER}/a")

    assert deleted.status_code == 204
    assert (await create_model(client, "a")).status_code == 409
    assert (await create_model(client, "b")).status_code == 201


async def test_the_delete_model_helper_removes_versions_and_predictions(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    version_id = await trained_version(fake, client)
    prediction_id = await finished_prediction(fake, client, version_id)

    await fake.delete_model(DESTINATION)

    assert (await client.get(f"/models/{DESTINATION}")).status_code == 404
    assert (await client.get(f"/predictions/{prediction_id}")).status_code == 404
    assert version_id not in fake.versions
    assert (await create_model(client)).status_code == 409


async def test_a_training_whose_destination_is_deleted_fails(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    training = await start_training(client)
    await fake.start_processing(training["id"])
    await client.delete(f"/models/{DESTINATION}")

    with pytest.raises(ValueError, match="destination model was deleted"):
        await fake.succeed(training["id"])

    assert (await client.get(f"/trainings/{training['id']}")).json()["status"] == "failed"


async def test_a_deleted_file_is_gone(fake: FakeReplicate, client: httpx.AsyncClient) -> None:
    await create_model(client)
    uploaded = await upload(client, selfies_zip())
    body = {"destination": DESTINATION, "input": {"input_images": uploaded["urls"]["get"]}}
    training = (await client.post(TRAININGS_PATH, json=body)).json()

    deleted = await client.delete(f"/files/{uploaded['id']}")
    again = await client.delete(f"/files/{uploaded['id']}")

    assert (deleted.status_code, again.status_code) == (204, 404)
    assert (await client.get(f"/files/{uploaded['id']}")).status_code == 404
    assert fake.file_from_url(uploaded["urls"]["get"]) is None
    assert (await client.post(TRAININGS_PATH, json=body)).status_code == 422
    with pytest.raises(ValueError, match="failed at start"):
        await fake.start_processing(training["id"])
    assert fake.deletes() == [f"/v1/files/{uploaded['id']}"] * 2


async def test_files_are_listed_newest_first_in_pages(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    fake.page_size = 2
    ids = [(await upload(client, f"file {n}".encode()))["id"] for n in range(5)]
    await fake.expire_file(ids[0])
    await client.delete(f"/files/{ids[2]}")

    first = (await client.get("/files")).json()
    second = (await client.get(first["next"])).json()

    assert first["results"][0] == (await client.get(f"/files/{ids[4]}")).json()
    assert [listed["id"] for listed in first["results"]] == [ids[4], ids[3]]
    assert [listed["id"] for listed in second["results"]] == [ids[1]]
    assert second["next"] is None
    assert (await client.get(second["previous"])).json()["results"] == first["results"]


async def test_versions_are_listed_newest_first_in_pages(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    fake.page_size = 2
    ids = [await trained_version(fake, client) for _ in range(3)]

    first = (await client.get(f"/models/{DESTINATION}/versions")).json()
    second = (await client.get(first["next"])).json()

    assert [version["id"] for version in first["results"]] == [ids[2], ids[1]]
    assert [version["id"] for version in second["results"]] == [ids[0]]
    assert first["next"].startswith(f"{fake.base_url}/models/{DESTINATION}/versions?cursor=")
    assert second["next"] is None
    assert "openapi_schema" in first["results"][0]


async def test_fail_next_answers_deletes_with_the_given_detail(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    await create_model(client)
    fake.fail_next("DELETE", "/models/", 409, detail="Delete the versions first.")
    fake.fail_next("DELETE", "/models/", 503)
    fake.fail_next("DELETE", "/models/", 429, retry_after=2)

    answers = [await client.delete(f"/models/{DESTINATION}") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [409, 503, 429, 204]
    assert answers[0].json()["detail"] == "Delete the versions first."
    assert answers[2].headers["retry-after"] == "2"
    assert [call.status for call in fake.calls("DELETE", "/models")] == [409, 503, 429, 204]
    assert fake.deletes() == [f"/v1/models/{DESTINATION}"]


async def test_the_replicate_client_deletes_a_users_data_from_the_fake(
    fake: FakeReplicate, client: httpx.AsyncClient
) -> None:
    fake.page_size = 1
    ids = [await trained_version(fake, client) for _ in range(2)]
    archive = FileUpload(selfies_zip(), "selfies-job-1.zip", "application/zip")
    async with httpx.AsyncClient(trust_env=False) as http:
        replicate = ReplicateClient(http, base_url=fake.base_url, token=fake.token)
        uploaded = await replicate.upload_file(archive)
        uploaded_at = fake.files[uploaded.id].created_at
        listed = await replicate.list_files()
        versions = await replicate.list_model_versions(OWNER, MODEL)
        with pytest.raises(UpstreamRejected, match="Delete them before") as refused:
            await replicate.delete_model(OWNER, MODEL)
        for version_id in versions or []:
            await replicate.delete_model_version(OWNER, MODEL, version_id)
        await replicate.delete_model(OWNER, MODEL)
        await replicate.delete_model(OWNER, MODEL)
        await replicate.delete_file(uploaded.id)
        await replicate.delete_file(uploaded.id)
        gone = await replicate.list_model_versions(OWNER, MODEL)

    assert uploaded.url == f"{fake.base_url}/files/{uploaded.id}"
    assert [file.name for file in listed] == ["selfies-job-1.zip", "selfies.zip", "selfies.zip"]
    assert listed[0].id == uploaded.id
    assert listed[0].created_at == uploaded_at
    assert versions == ids[::-1]
    assert refused.value.status == 409
    assert gone is None
    assert uploaded.id not in fake.files
    assert len(fake.deletes()) == 6
