"""Request ids end to end: the response header, every error, the log lines, the tasks."""

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from domain.webhook_links import WebhookKind
from tests.integration.api import Api, token_for
from tests.integration.studio import GENERATE_MAYA, Studio, local
from tests.integration.ws import PROTOCOL
from tests.logs import CapturedLogs, captured_logs
from tests.task_queue import until

DELETE_GENERATION = "mutation($id: ID!) { deleteGeneration(id: $id) { deletedId } }"
MADE_ID = re.compile(r"[0-9a-f]{32}")
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def logs() -> Iterator[CapturedLogs]:
    with captured_logs() as captured:
        yield captured


def request_id(response: httpx.Response) -> str:
    found: str | None = response.headers.get("X-Request-Id")
    assert found, f"no X-Request-Id on {response.request.method} {response.request.url.path}"
    return found


def error_request_ids(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["requestId"] for error in body["errors"]]


# -- the access log --------------------------------------------------------------------------


async def test_the_log_line_of_a_request_carries_the_id_its_response_returned(
    api: Api, logs: CapturedLogs
) -> None:
    token = token_for("alice")
    response = await api.post("{ me { id } }", token=token)

    returned = request_id(response)
    [access] = logs.where(logger="sselfie.access", request_id=returned)
    assert (access["method"], access["path"], access["status"]) == ("POST", "/graphql", 200)
    assert access["duration_ms"] >= 0
    assert access["event"].startswith("POST /graphql 200")
    # Signed in: the internal id, never the token or the provider's subject.
    assert re.fullmatch(r"[a-z0-9]+", access["user_id"])
    assert access["user_id"] != "alice"
    assert token not in logs.text


async def test_the_access_log_names_the_route_template_not_the_signed_query(
    api: Api, logs: CapturedLogs
) -> None:
    response = await api.client.get("/images/abc123?expires=1&signature=secret-signature")

    assert response.status_code == 403
    [access] = logs.where(logger="sselfie.access", request_id=request_id(response))
    assert access["path"] == "/images/{image_id}"
    assert "secret-signature" not in logs.text
    assert "abc123" not in logs.text


# -- the header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "incoming", ["client-42", "0f3a9c2e7d1b4c8e", "trace:span.1_2-x", "x" * 128]
)
async def test_a_well_formed_incoming_request_id_is_kept(api: Api, incoming: str) -> None:
    response = await api.client.get("/healthz", headers={"X-Request-Id": incoming})

    assert request_id(response) == incoming


@pytest.mark.parametrize("incoming", ["x" * 129, "has space", "semi;colon", "<script>", " "])
async def test_a_malformed_or_overlong_request_id_is_replaced(api: Api, incoming: str) -> None:
    response = await api.client.get("/healthz", headers={"X-Request-Id": incoming})

    assert MADE_ID.fullmatch(request_id(response))


async def test_each_request_without_an_id_gets_its_own(api: Api) -> None:
    first = await api.client.get("/healthz")
    second = await api.client.get("/healthz")

    assert MADE_ID.fullmatch(request_id(first))
    assert request_id(first) != request_id(second)


async def test_every_kind_of_answer_carries_the_request_id(api: Api) -> None:
    answers = {
        "health": await api.client.get("/healthz"),
        "readiness": await api.client.get("/readyz"),
        "webhook": await api.client.post(
            "/webhooks/replicate", content=b"{}", headers=JSON_HEADERS
        ),
        "image": await api.client.get("/images/nope?expires=1&signature=x"),
        "unknown path": await api.client.get("/nothing-here"),
        "csrf refusal": await api.client.post(
            "/graphql", content=b"{}", headers={"Content-Type": "text/plain"}
        ),
        "upload refusal": await api.client.post(
            "/graphql",
            data={"operations": "{}", "map": "{}"},
            files={"0": ("a.jpg", b"x")},
            headers={"Apollo-Require-Preflight": "true"},
        ),
        "preflight": await api.client.options(
            "/graphql",
            headers={"Origin": "https://app.test", "Access-Control-Request-Method": "POST"},
        ),
    }

    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "health": 200,
        "readiness": 200,
        "webhook": 400,
        "image": 403,
        "unknown path": 404,
        "csrf refusal": 400,
        "upload refusal": 401,
        "preflight": 400,
    }
    assert all(MADE_ID.fullmatch(request_id(answer)) for answer in answers.values())


async def test_a_middlewares_refusal_says_its_request_id_in_the_error_too(api: Api) -> None:
    response = await api.client.post(
        "/graphql", content=b"{}", headers={"Content-Type": "text/plain", "X-Request-Id": "csrf-1"}
    )

    assert request_id(response) == "csrf-1"
    assert error_request_ids(response.json()) == ["csrf-1"]


async def test_an_unhandled_failure_answers_500_with_the_request_id_and_logs_it(
    studio: Studio, logs: CapturedLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> bool:
        raise RuntimeError("the signer broke")

    monkeypatch.setattr(studio.runtime.services.image_urls, "verify", broken)
    async with httpx.AsyncClient(base_url=studio.origin) as client:
        response = await client.get(
            "/images/x?expires=1&signature=y", headers={"X-Request-Id": "r500"}
        )

    assert response.status_code == 500
    assert request_id(response) == "r500"
    [access] = logs.where(logger="sselfie.access", request_id="r500")
    assert access["status"] == 500
    assert "RuntimeError: the signer broke" in access["exception"]


# -- GraphQL errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "variables", "code"),
    [
        ("{ me { id } }", {}, "UNAUTHENTICATED"),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": 7.5}, "BAD_USER_INPUT"),
        ("{ nothingLikeThis }", {}, "GRAPHQL_VALIDATION_FAILED"),
        ("{ me { id }", {}, "GRAPHQL_PARSE_FAILED"),
    ],
)
async def test_every_graphql_error_carries_the_request_id_of_its_response(
    api: Api, document: str, variables: dict[str, Any], code: str
) -> None:
    token = token_for("alice") if code != "UNAUTHENTICATED" else None
    response = await api.post(document, token=token, variables=variables)

    body = response.json()
    assert [error["extensions"]["code"] for error in body["errors"]] == [code]
    assert error_request_ids(body) == [request_id(response)]


async def test_a_clients_request_id_is_the_one_in_its_errors(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "{ me { id } }"},
        headers={"X-Request-Id": "client-chosen-1"},
    )

    assert error_request_ids(response.json()) == ["client-chosen-1"]


async def test_a_persisted_query_error_carries_the_request_id(api: Api) -> None:
    hashed = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    response = await api.client.post(
        "/graphql",
        json={"extensions": hashed},
        headers={"Authorization": f"Bearer {token_for('alice')}", **JSON_HEADERS},
    )

    body = response.json()
    assert [error["extensions"]["code"] for error in body["errors"]] == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    assert error_request_ids(body) == [request_id(response)]


# -- WebSocket -------------------------------------------------------------------------------


async def test_a_websocket_has_one_request_id_for_its_answer_its_errors_and_its_lines(
    studio: Studio, logs: CapturedLogs
) -> None:
    url = studio.origin.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        url,
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        additional_headers={"X-Request-Id": "ws-7"},
    ) as connection:
        assert connection.response is not None
        assert connection.response.headers["X-Request-Id"] == "ws-7"
        await connection.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {token_for('a')}"},
                }
            )
        )
        assert json.loads(await connection.recv())["type"] == "connection_ack"
        subscribe = {"query": "subscription Nope { nothingLikeThis }", "operationName": "Nope"}
        await connection.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        error = json.loads(await connection.recv())

    assert error["type"] == "error"
    assert [item["extensions"]["requestId"] for item in error["payload"]] == ["ws-7"]
    started, ended = logs.where(logger="sselfie.access", operation="Nope")
    assert started["event"] == "operation Nope started"
    assert (ended["outcome"], ended["request_id"], ended["operation_id"]) == ("error", "ws-7", "1")
    assert ended["duration_ms"] >= 0
    assert ended["user_id"] == await studio.user_id("a")


# -- tasks -----------------------------------------------------------------------------------


async def test_a_task_queued_by_a_request_logs_with_that_requests_id(
    studio: Studio, logs: CapturedLogs
) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "in a garden")

    response = await studio.api.client.post(
        "/graphql",
        json={"query": DELETE_GENERATION, "variables": {"id": generation["id"]}},
        headers={"Authorization": f"Bearer {token_for('alice')}", "X-Request-Id": "delete-1"},
    )
    assert response.json()["data"]["deleteGeneration"]["deletedId"] == generation["id"]
    await until(
        studio.engine,
        "SELECT id FROM pgqueuer WHERE entrypoint = 'delete_stored_images'",
        lambda queued: not queued,
    )

    task_lines = logs.where(task="delete_stored_images")
    assert task_lines
    assert {line["request_id"] for line in task_lines} == {"delete-1"}
    assert any(line["event"].startswith("deleted ") for line in task_lines)  # the domain's
    [ended] = [line for line in task_lines if line["logger"] == "sselfie.tasks"]
    assert ended["outcome"] == "done"
    assert isinstance(ended["job_id"], int)


async def test_storing_outputs_logs_with_the_id_of_the_webhook_that_reported_them(
    studio: Studio, logs: CapturedLogs
) -> None:
    await studio.trained("alice")
    generation = await studio.generated("alice", "in a garden")

    webhook_ids = {
        line["request_id"]
        for line in logs.where(logger="sselfie.access", path="/webhooks/replicate", status=200)
    }
    stored = logs.where(task="store_outputs", logger="sselfie.tasks")
    assert [line["outcome"] for line in stored] == ["done"]
    assert stored[0]["request_id"] in webhook_ids
    assert logs.where(task="make_renditions", request_id=stored[0]["request_id"])
    assert local(generation["id"])


async def test_upstream_calls_are_logged_with_their_request_context(
    studio: Studio, logs: CapturedLogs
) -> None:
    await studio.trained("alice")
    response = await studio.api.post(
        GENERATE_MAYA, token=token_for("alice"), variables={"prompt": "in a garden " * 40}
    )

    [call] = logs.where(logger="sselfie.upstream", method="POST", request_id=request_id(response))
    assert call["path"] == "/v1/predictions"
    assert (call["status"], call["attempt"]) == (201, 1)
    assert call["duration_ms"] >= 0
    assert studio.fake.token not in logs.text
    assert "in a garden in a garden" not in logs.text  # no prompt in any line


async def test_a_webhook_is_logged_without_its_url_token(
    studio: Studio, logs: CapturedLogs
) -> None:
    url = await studio.webhook_url(WebhookKind.GENERATION, "0f3a9c2e-7d1b-4c8e-9a6f-2b5d8e1c4a7f")
    async with httpx.AsyncClient() as client:
        response = await client.post(url, content=b"{}", headers=JSON_HEADERS)

    assert response.status_code == 401  # unsigned
    token = httpx.URL(url).params["token"]
    assert token not in logs.text
    [access] = logs.where(logger="sselfie.access", request_id=request_id(response))
    assert access["path"] == "/webhooks/replicate"
