"""The retry policy: GETs retry freely; POSTs only when they surely did not arrive."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx

from domain.errors import NotConfigured, UpstreamRejected, UpstreamUnavailable
from domain.upstream import FileUpload
from replicate_client import ReplicateClient
from tests.unit.replicate_client.fakes import (
    BASE_URL,
    TOKEN,
    TRAINER_VERSION,
    VERSION_ID,
    FakeSleep,
    problem,
    training_body,
)

TRAININGS_PATH = f"/models/ostris/flux-dev-lora-trainer/versions/{VERSION_ID}/trainings"


def ok_training() -> httpx.Response:
    return httpx.Response(200, json=training_body(id="t1"))


def created_training() -> httpx.Response:
    return httpx.Response(201, json=training_body(id="t1", status="starting"))


async def create_training(client: ReplicateClient) -> Any:
    return await client.create_training(
        trainer_version=TRAINER_VERSION,
        destination="sselfie/u-lora",
        input={"input_images": "https://api.replicate.com/v1/files/x"},
        webhook=None,
        webhook_events=[],
    )


async def unavailable_create(client: ReplicateClient) -> UpstreamUnavailable:
    with pytest.raises(UpstreamUnavailable) as raised:
        await create_training(client)
    return raised.value


async def assert_not_retried(client: ReplicateClient, route: respx.Route, sleep: FakeSleep) -> None:
    """The create fails as one that may have arrived: sent once, and not again."""
    error = await unavailable_create(client)
    assert error.may_have_arrived is True
    assert route.call_count == 1
    assert sleep.calls == []


# --- GET ------------------------------------------------------------------------------


async def test_get_throttled_waits_retry_after(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep
) -> None:
    throttled = httpx.Response(
        429, json={"detail": "Request was throttled."}, headers={"Retry-After": "7"}
    )
    route = api.get("/trainings/t1").mock(side_effect=[throttled, ok_training()])

    training = await client.get_training("t1")

    assert training is not None
    assert training.id == "t1"
    assert route.call_count == 2
    assert sleep.calls == [7.0]


async def test_retry_after_is_capped(
    http: httpx.AsyncClient, api: respx.MockRouter, sleep: FakeSleep
) -> None:
    client = ReplicateClient(
        http, base_url=BASE_URL, token=TOKEN, sleep=sleep, max_retry_after_seconds=10
    )
    throttled = httpx.Response(429, headers={"Retry-After": "3600"})
    api.get("/trainings/t1").mock(side_effect=[throttled, ok_training()])

    await client.get_training("t1")

    assert sleep.calls == [10.0]


async def test_get_server_error_is_retried_with_backoff(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep
) -> None:
    route = api.get("/trainings/t1").mock(side_effect=[httpx.Response(503), ok_training()])

    assert await client.get_training("t1") is not None
    assert route.call_count == 2
    assert len(sleep.calls) == 1
    assert 0.5 <= sleep.calls[0] <= 0.55  # backoff_seconds plus at most 10 % jitter


async def test_get_gives_up_after_max_attempts(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep
) -> None:
    route = api.get("/trainings/t1").respond(502)

    with pytest.raises(UpstreamUnavailable) as raised:
        await client.get_training("t1")

    assert raised.value.may_have_arrived is False
    assert "Try again" in raised.value.message
    assert route.call_count == 4
    assert len(sleep.calls) == 3
    assert sleep.calls[0] < sleep.calls[1] < sleep.calls[2]  # exponential
    assert 2.0 <= sleep.calls[2] <= 2.2


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("read timed out"), httpx.ConnectTimeout("connect timed out")],
)
async def test_get_timeout_is_retried(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep, failure: Exception
) -> None:
    route = api.get("/trainings/t1").mock(side_effect=[failure, ok_training()])

    assert await client.get_training("t1") is not None
    assert route.call_count == 2
    assert len(sleep.calls) == 1


async def test_get_broken_connection_is_retried(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = api.get("/trainings/t1").mock(
        side_effect=[httpx.RemoteProtocolError("peer closed"), ok_training()]
    )

    assert await client.get_training("t1") is not None
    assert route.call_count == 2


async def test_retries_are_logged_without_the_token(
    client: ReplicateClient, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    api.get("/trainings/t1").mock(side_effect=[httpx.Response(503), ok_training()])

    with caplog.at_level(logging.INFO, logger="replicate_client"):
        await client.get_training("t1")

    retries = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(retries) == 1
    assert "GET /trainings/t1" in retries[0].getMessage()
    assert "HTTP 503" in retries[0].getMessage()
    assert TOKEN not in caplog.text


# --- POST -----------------------------------------------------------------------------


async def test_post_server_error_may_have_arrived_and_is_not_retried(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep
) -> None:
    route = api.post(TRAININGS_PATH).respond(500)

    await assert_not_retried(client, route, sleep)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.WriteTimeout("write timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ReadError("connection reset"),
    ],
)
async def test_post_ambiguous_transport_failure_is_not_retried(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep, failure: Exception
) -> None:
    route = api.post(TRAININGS_PATH).mock(side_effect=[failure, created_training()])

    await assert_not_retried(client, route, sleep)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.PoolTimeout("no free connection"),
    ],
)
async def test_post_that_never_arrived_is_retried(
    client: ReplicateClient, api: respx.MockRouter, failure: Exception
) -> None:
    route = api.post(TRAININGS_PATH).mock(side_effect=[failure, created_training()])

    training = await create_training(client)

    assert training.id == "t1"
    assert route.call_count == 2


async def test_post_throttled_is_retried(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep
) -> None:
    throttled = httpx.Response(429, headers={"Retry-After": "2"})
    route = api.post(TRAININGS_PATH).mock(side_effect=[throttled, created_training()])

    assert (await create_training(client)).id == "t1"
    assert route.call_count == 2
    assert sleep.calls == [2.0]


async def test_post_never_arriving_gives_up_saying_nothing_started(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    route = api.post(TRAININGS_PATH).mock(side_effect=httpx.ConnectError("refused"))

    error = await unavailable_create(client)

    assert error.may_have_arrived is False
    assert "nothing was started" in error.message
    assert route.call_count == 4


async def test_post_answered_with_garbage_may_have_arrived(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    api.post(TRAININGS_PATH).respond(201, text="<html>oops</html>")

    error = await unavailable_create(client)

    assert error.may_have_arrived is True


# --- rejections -----------------------------------------------------------------------


async def test_problem_detail_is_rejected_without_retry(
    client: ReplicateClient, api: respx.MockRouter, sleep: FakeSleep
) -> None:
    detail = "The specified training destination does not exist"
    route = api.post(TRAININGS_PATH).mock(return_value=problem(422, detail))

    with pytest.raises(UpstreamRejected) as raised:
        await create_training(client)

    assert raised.value.status == 422
    assert raised.value.detail == detail
    assert detail in raised.value.message
    assert route.call_count == 1
    assert sleep.calls == []


async def test_rejection_falls_back_to_title_then_text(
    client: ReplicateClient, api: respx.MockRouter
) -> None:
    api.get("/trainings/a").respond(400, json={"title": "Bad request"})
    api.get("/trainings/b").respond(403, text="Forbidden by policy")

    with pytest.raises(UpstreamRejected) as by_title:
        await client.get_training("a")
    with pytest.raises(UpstreamRejected) as by_text:
        await client.get_training("b")

    assert by_title.value.detail == "Bad request"
    assert by_text.value.detail == "Forbidden by policy"


# --- configuration and secrecy --------------------------------------------------------

Call = Callable[[ReplicateClient], Awaitable[object]]

EVERY_METHOD: dict[str, Call] = {
    "get_model": lambda c: c.get_model("o", "n"),
    "create_model": lambda c: c.create_model("o", "n", description="d"),
    "upload_file": lambda c: c.upload_file(FileUpload(b"x", "a.zip", "application/zip")),
    "create_training": create_training,
    "get_training": lambda c: c.get_training("t1"),
    "list_trainings": lambda c: c.list_trainings(),
    "cancel_training": lambda c: c.cancel_training("t1"),
    "get_version_input_schema": lambda c: c.get_version_input_schema("o", "n", "v"),
    "webhook_secret": lambda c: c.webhook_secret(),
    "create_prediction": lambda c: c.create_prediction(
        version="v", input={}, webhook=None, webhook_events=[]
    ),
    "get_prediction": lambda c: c.get_prediction("p1"),
    "cancel_prediction": lambda c: c.cancel_prediction("p1"),
    "list_model_versions": lambda c: c.list_model_versions("o", "n"),
    "delete_model_version": lambda c: c.delete_model_version("o", "n", "v"),
    "delete_model": lambda c: c.delete_model("o", "n"),
    "delete_file": lambda c: c.delete_file("f1"),
    "list_files": lambda c: c.list_files(),
}


@pytest.mark.parametrize("token", [None, ""])
@pytest.mark.parametrize("method", sorted(EVERY_METHOD))
async def test_without_token_nothing_is_sent(
    http: httpx.AsyncClient, api: respx.MockRouter, method: str, token: str | None
) -> None:
    catch_all = api.route().respond(200, json={})
    client = ReplicateClient(http, base_url=BASE_URL, token=token, sleep=FakeSleep())

    with pytest.raises(NotConfigured, match="REPLICATE_API_TOKEN"):
        await EVERY_METHOD[method](client)

    assert catch_all.call_count == 0


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (problem(401, f"Invalid token {TOKEN}"), UpstreamRejected),
        (httpx.Response(400, text=f"Authorization: Bearer {TOKEN}"), UpstreamRejected),
        (httpx.Response(500, text=TOKEN), UpstreamUnavailable),
        (httpx.ReadTimeout(f"timed out for {TOKEN}"), UpstreamUnavailable),
        (httpx.ConnectError(f"refused {TOKEN}"), UpstreamUnavailable),
    ],
)
async def test_the_token_never_appears_in_errors(
    client: ReplicateClient,
    api: respx.MockRouter,
    answer: httpx.Response | Exception,
    expected: type[Exception],
) -> None:
    if isinstance(answer, Exception):
        api.post(TRAININGS_PATH).mock(side_effect=answer)
    else:
        api.post(TRAININGS_PATH).mock(return_value=answer)

    with pytest.raises(expected) as raised:
        await create_training(client)

    assert TOKEN not in str(raised.value)
    assert TOKEN not in repr(raised.value.args)


def test_max_attempts_must_allow_one_request(http: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        ReplicateClient(http, base_url=BASE_URL, token=TOKEN, max_attempts=0)
