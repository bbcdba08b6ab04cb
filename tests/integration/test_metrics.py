"""/metrics on the public port, behind METRICS_TOKEN, over real loopback HTTP.

Counters live in the test process for the whole run (as in a server, for its life): each
test compares a scrape after with one before.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.webhook_links import WebhookKind
from tests.fake_replicate import FakeReplicate, sign
from tests.integration.api import token_for
from tests.integration.studio import TRAINING_PROGRESS, Studio, local, open_studio
from tests.integration.ws import subscribe
from tests.scraped_metrics import METRICS_TOKEN, Scrape, scrape
from tests.selfies import make_selfies

WAIT_SECONDS = 10.0


@pytest.fixture
async def studio(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> AsyncIterator[Studio]:
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, metrics_token=METRICS_TOKEN
    ) as opened:
        yield opened


async def metrics(studio: Studio) -> Scrape:
    return await scrape(studio.api.client, "/metrics")


def signed(secret: str, body: bytes, webhook_id: str) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
        "content-type": "application/json",
    }


async def started_training(studio: Studio) -> tuple[str, str]:
    """A running training: its job's global id, and Replicate's id of it."""
    body = await studio.start_training("alice", make_selfies(10))
    await studio.fake.settle()
    return body["data"]["startTraining"]["trainingJob"]["id"], studio.fake.trainings[-1].id


async def test_a_bad_signature_and_a_model_not_ready_refusal_are_counted(studio: Studio) -> None:
    before = await metrics(studio)
    url = await studio.webhook_url(WebhookKind.GENERATION, "0b8f0a1e-0000-4000-8000-000000000000")
    body = b'{"id": "p1", "status": "succeeded"}'
    forged = signed("whsec_" + "QUJD" * 8, body, "msg_forged")

    webhook = await studio.api.client.post(url, content=body, headers=forged)
    refusal = await studio.maya("alice", "a portrait in the rain")
    after = await metrics(studio)

    assert webhook.status_code == 401
    assert refusal["errors"][0]["extensions"]["code"] == "MODEL_NOT_READY"
    delta = Delta(before, after)
    assert delta("sselfie_webhooks_received_total", kind="generation", verdict="bad_signature") == 1
    assert delta("sselfie_allowance_refusals_total", code="MODEL_NOT_READY") == 1
    assert (
        delta(
            "sselfie_graphql_operations_total",
            operation="anonymous",
            type="mutation",
            outcome="MODEL_NOT_READY",
        )
        == 1
    )
    assert delta("sselfie_graphql_operation_duration_seconds_count", type="mutation") == 1


async def test_webhooks_are_counted_accepted_then_duplicate(studio: Studio) -> None:
    job_id, training_id = await started_training(studio)
    await studio.fake.start_processing(training_id)
    await studio.fake.settle()
    body = json.dumps(studio.fake.snapshot(training_id)).encode()
    url = await studio.webhook_url(WebhookKind.TRAINING, local(job_id))
    before = await metrics(studio)

    for _ in range(2):
        response = await studio.api.client.post(
            url, content=body, headers=signed(studio.fake.webhook_secret, body, "msg_twice")
        )
        assert response.status_code == 200
    after = await metrics(studio)

    delta = Delta(before, after)
    assert delta("sselfie_webhooks_received_total", kind="training_job", verdict="accepted") == 1
    assert delta("sselfie_webhooks_received_total", kind="training_job", verdict="duplicate") == 1


async def test_routes_are_labelled_by_template_never_by_path(studio: Studio) -> None:
    image_id = "5f0c2a9e-1111-4222-8333-944445555666"

    forbidden = await studio.api.client.get(f"/images/{image_id}?expires=1&signature=x")
    missing = await studio.api.client.get(f"/no-such-page-{image_id}")
    after = await metrics(studio)

    assert (forbidden.status_code, missing.status_code) == (403, 404)
    assert after.value("sselfie_http_requests_total", route="/images/{image_id}", status="403") >= 1
    assert after.value("sselfie_http_requests_total", route="unmatched", status="404") >= 1
    assert image_id not in after.text
    assert "/no-such-page" not in after.text


async def test_upstream_calls_are_labelled_by_endpoint_template(studio: Studio) -> None:
    _, training_id = await started_training(studio)
    after = await metrics(studio)

    endpoints = after.label_values("sselfie_upstream_requests_total", "endpoint")
    assert "POST /v1/models/{owner}/{name}/versions/{id}/trainings" in endpoints
    assert "POST /v1/files" in endpoints
    assert training_id not in after.text
    assert after.value("sselfie_upstream_request_duration_seconds_count") >= 2


async def test_jobs_and_tasks_are_read_from_the_database(studio: Studio) -> None:
    await started_training(studio)

    after = await metrics(studio)

    assert after.value("sselfie_metrics_database_up") == 1
    assert after.value("sselfie_trainings", status="STARTING") == 1
    assert after.value("sselfie_trainings", status="SUCCEEDED") == 0
    assert after.value("sselfie_generations") == 0
    assert after.value("sselfie_trainings_oldest_age_seconds", status="STARTING") >= 0
    assert "reconcile" in after.label_values("sselfie_task_queue_tasks", "entrypoint")
    assert after.label_values("sselfie_task_queue_oldest_due_age_seconds", "entrypoint")


async def test_open_subscriptions_are_counted_while_open(studio: Studio) -> None:
    job_id, _ = await started_training(studio)
    before = await metrics(studio)

    variables = {"id": job_id}
    async with subscribe(studio.origin, token_for("alice"), TRAINING_PROGRESS, variables) as sub:
        await sub.next()  # the job as it is: the subscription is open
        during = await metrics(studio)
    after = await metrics_once(studio, lambda scraped: open_subscriptions(scraped) == 0)

    assert open_subscriptions(before) == 0
    assert open_subscriptions(during) == 1
    assert open_subscriptions(after) == 0
    operations = Delta(before, after)
    assert operations("sselfie_graphql_operations_total", type="subscription", outcome="ok") == 1


async def test_image_bytes_sent_are_counted(studio: Studio) -> None:
    await studio.trained("alice")
    url = (await studio.generated("alice", "studio portrait"))["images"][0]["url"]
    before = await metrics(studio)

    image = await studio.api.client.get(url)
    after = await metrics(studio)

    assert image.status_code == 200
    delta = Delta(before, after)
    assert delta("sselfie_images_served_total", delivery="file") == 1
    assert delta("sselfie_image_bytes_served_total") == len(image.content)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-the-metrics-token-at-all", f"Basic {METRICS_TOKEN}", METRICS_TOKEN],
    ids=["none", "wrong-token", "wrong-scheme", "no-scheme"],
)
async def test_metrics_need_the_token(studio: Studio, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await studio.api.client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "sselfie_" not in response.text


async def test_without_a_token_there_are_no_metrics(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> None:
    async with open_studio(database_url, data_dir, engine, fake_replicate) as plain:
        response = await plain.api.client.get(
            "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )

    assert response.status_code == 404


class Delta:
    def __init__(self, before: Scrape, after: Scrape) -> None:
        self._before = before
        self._after = after

    def __call__(self, name: str, **labels: str) -> float:
        return self._after.value(name, **labels) - self._before.value(name, **labels)


def open_subscriptions(scraped: Scrape) -> float:
    return scraped.value("sselfie_graphql_open_subscriptions")


async def metrics_once(studio: Studio, holds: Callable[[Scrape], bool]) -> Scrape:
    """The first scrape where `holds(scrape)` (the server ends a closed socket's
    subscription on its own time)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        scraped = await metrics(studio)
        if holds(scraped) or time.monotonic() > deadline:
            return scraped
        await asyncio.sleep(0.05)
