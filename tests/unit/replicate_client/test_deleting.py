"""What deleting a user's data needs: listing a model's versions and the uploaded files,
and the deletes, which are idempotent (retried like GETs; 404 means already deleted)."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
import respx

from domain.errors import UpstreamRejected, UpstreamUnavailable
from domain.upstream import FileUpload, UpstreamFile
from replicate_client import ReplicateClient
from tests.unit.replicate_client.fakes import (
    BASE_URL,
    TOKEN,
    TRAINED_VERSION_ID,
    FakeSleep,
    problem,
)

MODEL_PATH = "/models/sselfie/user-1-selfie-lora"
VERSIONS_PATH = f"{MODEL_PATH}/versions"
MODEL_HAS_VERSIONS = "This model has versions. Delete them before deleting the model."

Delete = Callable[[ReplicateClient], Awaitable[None]]

# Each delete, and the path it sends DELETE to.
DELETES: dict[str, tuple[Delete, str]] = {
    "version": (
        lambda c: c.delete_model_version("sselfie", "user-1-selfie-lora", TRAINED_VERSION_ID),
        f"{VERSIONS_PATH}/{TRAINED_VERSION_ID}",
    ),
    "model": (lambda c: c.delete_model("sselfie", "user-1-selfie-lora"), MODEL_PATH),
    "file": (lambda c: c.delete_file("MjA0Zj"), "/files/MjA0Zj"),
}


def version(version_id: str) -> dict[str, object]:
    return {"id": version_id, "created_at": "2026-11-25T10:00:00Z", "cog_version": "0.9.25"}


def pages(*bodies: dict[str, object]) -> Callable[[httpx.Request], httpx.Response]:
    """Answers page `n` for `?cursor=c<n>` (page 1 without a cursor)."""

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor", "c1")
        return httpx.Response(200, json=bodies[int(cursor.removeprefix("c")) - 1])

    return answer


# --- deletes --------------------------------------------------------------------------


@pytest.mark.parametrize("target", sorted(DELETES))
async def test_a_delete_sends_delete_with_the_token(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep, target: str
) -> None:
    delete, path = DELETES[target]
    route = api.delete(path).respond(204)

    await delete(client)

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == "DELETE"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sleep.calls == []


@pytest.mark.parametrize("target", sorted(DELETES))
async def test_an_unknown_object_counts_as_deleted(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep, target: str
) -> None:
    delete, path = DELETES[target]
    route = api.delete(path).mock(return_value=problem(404, "Not found."))

    await delete(client)

    assert route.call_count == 1
    assert sleep.calls == []


async def test_a_model_with_versions_is_refused_with_the_reason(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep
) -> None:
    route = api.delete(MODEL_PATH).mock(return_value=problem(409, MODEL_HAS_VERSIONS))

    with pytest.raises(UpstreamRejected) as raised:
        await client.delete_model("sselfie", "user-1-selfie-lora")

    assert raised.value.status == 409
    assert raised.value.detail == MODEL_HAS_VERSIONS
    assert route.call_count == 1
    assert sleep.calls == []


async def test_a_refused_version_carries_the_reason(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    reason = "You can only delete versions of private models you own."
    api.delete(f"{VERSIONS_PATH}/v1").mock(return_value=problem(403, reason))

    with pytest.raises(UpstreamRejected) as raised:
        await client.delete_model_version("sselfie", "user-1-selfie-lora", "v1")

    assert raised.value.status == 403
    assert reason in str(raised.value)


@pytest.mark.parametrize("target", sorted(DELETES))
async def test_a_server_error_is_retried_with_backoff(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep, target: str
) -> None:
    delete, path = DELETES[target]
    route = api.delete(path).mock(side_effect=[httpx.Response(503), httpx.Response(204)])

    await delete(client)

    assert route.call_count == 2
    assert len(sleep.calls) == 1
    assert 0.5 <= sleep.calls[0] <= 0.55  # backoff_seconds plus at most 10 % jitter


async def test_a_throttled_delete_waits_retry_after(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep
) -> None:
    throttled = httpx.Response(
        429, json={"detail": "Request was throttled."}, headers={"Retry-After": "7"}
    )
    route = api.delete("/files/f1").mock(side_effect=[throttled, httpx.Response(204)])

    await client.delete_file("f1")

    assert route.call_count == 2
    assert sleep.calls == [7.0]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.WriteTimeout("write timed out"),
        httpx.RemoteProtocolError("peer closed"),
    ],
)
async def test_a_delete_that_may_have_arrived_is_sent_again(
    client: ReplicateClient, api: respx.MockRouter, failure: Exception
) -> None:
    # Deleting twice is harmless: the second answers 204 or 404, both "deleted".
    route = api.delete("/files/f1").mock(side_effect=[failure, httpx.Response(404)])

    await client.delete_file("f1")

    assert route.call_count == 2


async def test_a_delete_gives_up_after_max_attempts(
    client: ReplicateClient,
    api: respx.MockRouter,
    sleep: FakeSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = api.delete(MODEL_PATH).respond(502)

    with (
        caplog.at_level(logging.DEBUG, logger="replicate_client"),
        pytest.raises(UpstreamUnavailable) as raised,
    ):
        await client.delete_model("sselfie", "user-1-selfie-lora")

    assert raised.value.may_have_arrived is False
    assert "Try again" in raised.value.message
    assert route.call_count == 4
    assert len(sleep.calls) == 3
    assert f"DELETE {MODEL_PATH} failed (HTTP 502); giving up" in caplog.text
    assert TOKEN not in caplog.text


async def test_ids_cannot_change_a_delete_path(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = api.delete(url__regex=r"/files/").respond(204)

    await client.delete_file("../models/x?y=1")

    assert route.calls.last.request.url.raw_path == b"/v1/files/..%2Fmodels%2Fx%3Fy%3D1"


# --- a model's versions ---------------------------------------------------------------


async def test_versions_are_listed_over_every_page(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = api.get(VERSIONS_PATH).mock(
        side_effect=pages(
            {"next": f"{BASE_URL}{VERSIONS_PATH}?cursor=c2", "results": [version("v3")]},
            {
                "next": f"{BASE_URL}{VERSIONS_PATH}?cursor=c3",
                "results": [version("v2"), {"created_at": "2026-11-25T10:00:00Z"}],
            },
            {"next": None, "previous": "ignored", "results": [version("v1")]},
        )
    )

    assert await client.list_model_versions("sselfie", "user-1-selfie-lora") == [
        "v3",
        "v2",
        "v1",
    ]
    assert route.call_count == 3
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in route.calls)


async def test_a_model_without_versions_has_none(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    api.get(VERSIONS_PATH).respond(200, json={"next": None, "previous": None, "results": []})

    assert await client.list_model_versions("sselfie", "user-1-selfie-lora") == []


async def test_an_unknown_model_has_no_version_list(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    api.get(VERSIONS_PATH).mock(return_value=problem(404, "Model not found"))

    assert await client.list_model_versions("sselfie", "user-1-selfie-lora") is None


async def test_the_token_is_never_sent_to_a_next_page_elsewhere(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    page = {"next": "https://elsewhere.test/v1/models/x/versions", "results": [version("v1")]}
    api.get(VERSIONS_PATH).respond(200, json=page)

    assert await client.list_model_versions("sselfie", "user-1-selfie-lora") == ["v1"]
    assert [str(call.request.url) for call in api.calls] == [f"{BASE_URL}{VERSIONS_PATH}"]


async def test_a_next_page_that_never_ends_is_not_followed_forever(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    page = {"next": f"{BASE_URL}{VERSIONS_PATH}?cursor=again", "results": [version("v1")]}
    route = api.get(VERSIONS_PATH).respond(200, json=page)

    assert await client.list_model_versions("sselfie", "user-1-selfie-lora") == ["v1"]
    assert route.call_count == 100


async def test_listing_versions_retries_a_server_error(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    answer = httpx.Response(200, json={"next": None, "results": [version("v1")]})
    route = api.get(VERSIONS_PATH).mock(side_effect=[httpx.Response(500), answer])

    assert await client.list_model_versions("sselfie", "user-1-selfie-lora") == ["v1"]
    assert route.call_count == 2


# --- files ----------------------------------------------------------------------------


async def test_files_are_listed_newest_first_up_to_max_pages(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = api.get("/files").mock(
        side_effect=pages(
            {
                "next": f"{BASE_URL}/files?cursor=c2",
                "results": [
                    {"id": "f3", "name": "selfies-j3.zip", "created_at": "2026-11-25T10:00:00.5Z"},
                    {"id": "f2", "created_at": "2026-11-25T09:00:00"},
                ],
            },
            {
                "next": f"{BASE_URL}/files?cursor=c3",
                "results": [{"name": "no id"}, {"id": "f1", "name": None, "created_at": "?"}],
            },
            {"next": None, "results": [{"id": "f0"}]},
        )
    )

    files = await client.list_files(max_pages=2)

    assert files == [
        UpstreamFile("f3", "selfies-j3.zip", datetime(2026, 11, 25, 10, 0, 0, 500000, UTC)),
        UpstreamFile("f2", "", datetime(2026, 11, 25, 9, tzinfo=UTC)),
        UpstreamFile("f1", "", None),
    ]
    assert route.call_count == 2


async def test_files_are_listed_over_ten_pages_by_default(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    page = {"next": f"{BASE_URL}/files?cursor=more", "results": [{"id": "f1"}]}
    route = api.get("/files").respond(200, json=page)

    assert len(await client.list_files()) == 10
    assert route.call_count == 10


async def test_an_upload_answered_without_an_id_is_refused(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    api.post("/files").respond(201, json={"urls": {"get": f"{BASE_URL}/files/x"}})

    with pytest.raises(UpstreamUnavailable) as raised:
        await client.upload_file(FileUpload(b"zip", "selfies.zip", "application/zip"))

    assert raised.value.may_have_arrived is True
