"""Each endpoint: method, path, auth, body, and how the answer is parsed."""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import respx

from domain.generation.parameters import GenerationParameters, prediction_input
from domain.upstream import FileUpload, UploadedFile, UpstreamStatus
from replicate_client import ReplicateClient
from tests.locked_body import assert_locked_body
from tests.unit.replicate_client.fakes import (
    BASE_URL,
    TOKEN,
    TRAINED_VERSION_ID,
    TRAINER_VERSION,
    VERSION_ID,
    FakeSleep,
    json_of,
    multipart_parts,
    payload_of,
    prediction_body,
    training_body,
)

EVENTS = ["start", "logs", "completed"]
WEBHOOK = "https://api.example.test/webhooks/replicate?job=job-1"
TRAINED_VERSION = f"sselfie/u-lora:{TRAINED_VERSION_ID}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient) -> ReplicateClient:
    return ReplicateClient(http, base_url=BASE_URL, token=TOKEN, sleep=FakeSleep())


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL) as router:
        yield router


def only_request(route: respx.Route) -> httpx.Request:
    assert route.call_count == 1
    request: httpx.Request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    return request


def created_prediction_route(api: respx.MockRouter) -> respx.Route:
    """POST /predictions, answered with a prediction just created."""
    return api.post("/predictions").respond(
        201, json=prediction_body(status="starting", output=None, logs=None)
    )


def timeout_of(request: httpx.Request) -> dict[str, float]:
    timeout: dict[str, float] = request.extensions["timeout"]
    return timeout


# --- models ---------------------------------------------------------------------------


async def test_get_model_returns_the_model(client: ReplicateClient, api: respx.MockRouter) -> None:
    model = {"owner": "sselfie", "name": "user-1-selfie-lora", "visibility": "private"}
    route = api.get("/models/sselfie/user-1-selfie-lora").respond(200, json=model)

    assert await client.get_model("sselfie", "user-1-selfie-lora") == model
    request = only_request(route)
    assert timeout_of(request) == {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 30.0}


async def test_get_model_unknown_is_none(client: ReplicateClient, api: respx.MockRouter) -> None:
    api.get("/models/sselfie/nobody").respond(404, json={"detail": "Not found."})

    assert await client.get_model("sselfie", "nobody") is None


async def test_create_model_posts_a_private_cpu_model(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = api.post("/models").respond(201, json={"owner": "sselfie", "name": "u-selfie-lora"})

    assert await client.create_model("sselfie", "u-selfie-lora", description="Selfies of u")
    assert json_of(only_request(route)) == {
        "owner": "sselfie",
        "name": "u-selfie-lora",
        "visibility": "private",
        "hardware": "cpu",
        "description": "Selfies of u",
    }


async def test_create_model_taken_name_is_false(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = api.post("/models").respond(409, json={"detail": "A model with that name exists."})

    assert await client.create_model("sselfie", "u-selfie-lora", description="x") is False
    assert route.call_count == 1


async def test_version_input_schema_is_the_input_properties(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    properties = {"guidance_scale": {"type": "number", "minimum": 0, "maximum": 10}}
    version = {
        "id": TRAINED_VERSION_ID,
        "openapi_schema": {"components": {"schemas": {"Input": {"properties": properties}}}},
    }
    route = api.get(f"/models/sselfie/u-lora/versions/{TRAINED_VERSION_ID}").respond(
        200, json=version
    )

    schema = await client.get_version_input_schema("sselfie", "u-lora", TRAINED_VERSION_ID)

    assert schema == properties
    only_request(route)


async def test_version_input_schema_unknown_version_is_none(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    api.get("/models/sselfie/u-lora/versions/nope").respond(404, json={"detail": "Not found."})

    assert await client.get_version_input_schema("sselfie", "u-lora", "nope") is None


async def test_version_input_schema_without_a_schema_is_empty(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    api.get("/models/sselfie/u-lora/versions/v1").respond(200, json={"openapi_schema": None})

    assert await client.get_version_input_schema("sselfie", "u-lora", "v1") == {}


async def test_ids_cannot_change_the_path(client: ReplicateClient, api: respx.MockRouter) -> None:
    route = api.get(url__regex=r"/trainings/").respond(404)

    assert await client.get_training("../models/x?y=1") is None
    assert only_request(route).url.raw_path == b"/v1/trainings/..%2Fmodels%2Fx%3Fy%3D1"


# --- files ----------------------------------------------------------------------------


async def test_upload_file_sends_multipart_and_returns_its_id_and_url(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    file_url = "https://api.replicate.com/v1/files/MjA0Zj"
    route = api.post("/files").respond(201, json={"id": "MjA0Zj", "urls": {"get": file_url}})
    upload = FileUpload(
        content=b"PK\x03\x04zipbytes", filename="images.zip", content_type="application/zip"
    )

    assert await client.upload_file(upload) == UploadedFile(id="MjA0Zj", url=file_url)

    request = only_request(route)
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    parts = multipart_parts(request)
    assert parts["content"].get_filename() == "images.zip"
    assert parts["content"].get_content_type() == "application/zip"
    assert payload_of(parts["content"]) == b"PK\x03\x04zipbytes"
    assert payload_of(parts["filename"]) == b"images.zip"
    assert payload_of(parts["type"]) == b"application/zip"
    assert timeout_of(request)["write"] > 30.0


# --- trainings ------------------------------------------------------------------------


async def test_create_training_posts_to_the_trainer_version(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    path = f"/models/ostris/flux-dev-lora-trainer/versions/{VERSION_ID}/trainings"
    route = api.post(path).respond(201, json=training_body(status="starting", logs=None))
    training_input = {"input_images": "https://api.replicate.com/v1/files/x", "steps": 1000}

    training = await client.create_training(
        trainer_version=TRAINER_VERSION,
        destination="sselfie/u-selfie-lora",
        input=training_input,
        webhook=WEBHOOK,
        webhook_events=EVENTS,
    )

    assert training.id == "zz4ibbonubfz7carwiefibzgga"
    assert training.status is UpstreamStatus.STARTING
    assert training.logs == ""
    assert json_of(only_request(route)) == {
        "destination": "sselfie/u-selfie-lora",
        "input": training_input,
        "webhook": WEBHOOK,
        "webhook_events_filter": EVENTS,
    }


async def test_create_training_without_webhook_sends_no_webhook_fields(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    path = f"/models/ostris/flux-dev-lora-trainer/versions/{VERSION_ID}/trainings"
    route = api.post(path).respond(201, json=training_body(status="starting"))

    await client.create_training(
        trainer_version=TRAINER_VERSION,
        destination="sselfie/u-selfie-lora",
        input={"input_images": "u"},
        webhook=None,
        webhook_events=EVENTS,
    )

    assert json_of(only_request(route)) == {
        "destination": "sselfie/u-selfie-lora",
        "input": {"input_images": "u"},
    }


@pytest.mark.parametrize("trainer_version", ["ostris/flux", "flux:abc", "a/b/c:abc", ""])
async def test_create_training_rejects_a_malformed_trainer_version(
    client: ReplicateClient, api: respx.MockRouter, trainer_version: str
) -> None:
    with pytest.raises(ValueError, match="owner/name:version"):
        await client.create_training(
            trainer_version=trainer_version,
            destination="a/b",
            input={},
            webhook=None,
            webhook_events=[],
        )
    assert not api.calls


async def test_get_training_parses_it(client: ReplicateClient, api: respx.MockRouter) -> None:
    body = training_body(
        status="succeeded",
        output={"version": TRAINED_VERSION, "weights": "https://x/w.tar"},
        completed_at="2026-11-25T10:30:00Z",
    )
    route = api.get("/trainings/zz4ibbonubfz7carwiefibzgga").respond(200, json=body)

    training = await client.get_training("zz4ibbonubfz7carwiefibzgga")

    only_request(route)
    assert training is not None
    assert training.status is UpstreamStatus.SUCCEEDED
    assert training.output_version == TRAINED_VERSION
    assert training.completed_at == datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


async def test_get_training_unknown_is_none(client: ReplicateClient, api: respx.MockRouter) -> None:
    api.get("/trainings/gone").respond(404, json={"detail": "Not found."})

    assert await client.get_training("gone") is None


async def test_list_trainings_follows_next_up_to_max_pages(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    page_2_url = f"{BASE_URL}/trainings?cursor=c2"
    page_1 = {"next": page_2_url, "previous": None, "results": [training_body(id="t1")]}
    page_2 = {
        "next": f"{BASE_URL}/trainings?cursor=c3",
        "results": [training_body(id="t2"), training_body(id="t3", status="failed")],
    }
    route = api.get("/trainings").mock(
        side_effect=lambda request: httpx.Response(
            200, json=page_2 if request.url.params.get("cursor") == "c2" else page_1
        )
    )

    trainings = await client.list_trainings(max_pages=2)

    assert [t.id for t in trainings] == ["t1", "t2", "t3"]
    assert trainings[2].status is UpstreamStatus.FAILED
    assert route.call_count == 2
    assert str(route.calls.last.request.url) == page_2_url
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_list_trainings_reads_one_page_by_default(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    page = {"next": f"{BASE_URL}/trainings?cursor=c2", "results": [training_body(id="t1")]}
    route = api.get("/trainings").respond(200, json=page)

    assert [t.id for t in await client.list_trainings()] == ["t1"]
    assert route.call_count == 1


async def test_list_trainings_skips_unparseable_entries_and_foreign_next_pages(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    page = {
        "next": "https://elsewhere.test/v1/trainings?cursor=c2",
        "results": [training_body(id="t1"), {"status": "starting"}, training_body(status="?")],
    }
    route = api.get("/trainings").respond(200, json=page)

    assert [t.id for t in await client.list_trainings(max_pages=3)] == ["t1"]
    assert route.call_count == 1


async def test_cancel_training_posts_cancel(client: ReplicateClient, api: respx.MockRouter) -> None:
    route = api.post("/trainings/t1/cancel").respond(
        200, json=training_body(id="t1", status="canceled")
    )

    training = await client.cancel_training("t1")

    only_request(route)
    assert training.status is UpstreamStatus.CANCELED


# --- predictions ----------------------------------------------------------------------


async def test_create_prediction_posts_version_input_and_webhook(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = created_prediction_route(api)

    prediction = await client.create_prediction(
        version=TRAINED_VERSION,
        input={"prompt": "TOK on a beach", "num_outputs": 2},
        webhook=WEBHOOK,
        webhook_events=["completed"],
    )

    assert prediction.status is UpstreamStatus.STARTING
    assert prediction.output == []
    assert json_of(only_request(route)) == {
        "version": TRAINED_VERSION,
        "input": {"prompt": "TOK on a beach", "num_outputs": 2},
        "webhook": WEBHOOK,
        "webhook_events_filter": ["completed"],
    }


async def test_create_prediction_sends_the_locked_input_with_its_json_types(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = created_prediction_route(api)
    parameters = GenerationParameters(seed=999_999)
    names = {name: name for name in ["prompt", *parameters.as_dict()]} | {
        "guidance": "guidance_scale"
    }

    await client.create_prediction(
        version=TRAINED_VERSION,
        input=prediction_input("TOK on a beach", parameters, names),
        webhook=WEBHOOK,
        webhook_events=["completed"],
    )

    assert_locked_body(json_of(only_request(route)), version=TRAINED_VERSION)


async def test_get_prediction_parses_the_output_urls(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = api.get("/predictions/p1").respond(200, json=prediction_body(id="p1"))

    prediction = await client.get_prediction("p1")

    only_request(route)
    assert prediction is not None
    assert prediction.output == [
        "https://replicate.delivery/xezq/abc/out-0.webp",
        "https://replicate.delivery/xezq/abc/out-1.webp",
    ]


async def test_get_prediction_unknown_is_none(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    api.get("/predictions/gone").respond(404, json={"detail": "Not found."})

    assert await client.get_prediction("gone") is None


async def test_cancel_prediction_posts_cancel(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = api.post("/predictions/p1/cancel").respond(
        200, json=prediction_body(id="p1", status="canceled", output=None)
    )

    prediction = await client.cancel_prediction("p1")

    only_request(route)
    assert prediction.status is UpstreamStatus.CANCELED


# --- webhooks -------------------------------------------------------------------------


async def test_webhook_secret_is_the_key(client: ReplicateClient, api: respx.MockRouter) -> None:
    route = api.get("/webhooks/default/secret").respond(200, json={"key": "whsec_c2VjcmV0"})

    assert await client.webhook_secret() == "whsec_c2VjcmV0"
    only_request(route)


async def test_list_predictions_stops_at_a_page_reaching_before_the_moment(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    pages = {
        None: {
            "next": f"{BASE_URL}/predictions?cursor=c2",
            "results": [prediction_body(id="p1", created_at="2026-11-25T11:00:00Z")],
        },
        "c2": {
            "next": f"{BASE_URL}/predictions?cursor=c3",
            "results": [
                prediction_body(id="p2", created_at="2026-11-25T10:59:00Z"),
                prediction_body(id="p3", created_at="2026-11-25T10:00:00Z"),
            ],
        },
    }
    route = api.get("/predictions").mock(
        side_effect=lambda request: httpx.Response(
            200, json=pages[request.url.params.get("cursor")]
        )
    )

    listed = await client.list_predictions(
        max_pages=5, created_after=datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    )

    assert [p.id for p in listed] == ["p1", "p2", "p3"]
    assert route.call_count == 2
