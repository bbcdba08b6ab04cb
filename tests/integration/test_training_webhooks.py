"""Bad webhooks change nothing; lost ones are made up for by the reconciler."""

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.webhook_links import WebhookKind
from tests.fake_replicate import FakeReplicate, sign
from tests.integration.api import token_for
from tests.integration.studio import TRAINING_PROGRESS, Studio, local, open_studio
from tests.integration.ws import subscribe
from tests.selfies import make_selfies


async def started(studio: Studio, user: str = "alice", first_seed: int = 1) -> tuple[str, str]:
    """A running training: (its job's global id, Replicate's training id)."""
    body = await studio.start_training(user, make_selfies(10, first_seed=first_seed))
    await studio.fake.settle()
    return body["data"]["startTraining"]["trainingJob"]["id"], studio.fake.trainings[-1].id


async def progress_while_played(
    studio: Studio, job_id: str, training_id: str
) -> list[dict[str, Any]]:
    """The job's trainingProgress updates while the fake plays its training to the end."""
    variables = {"id": job_id}
    async with subscribe(studio.origin, token_for("alice"), TRAINING_PROGRESS, variables) as sub:
        await sub.next()
        await studio.fake.play(training_id)
        return await sub.payloads_until_complete()


def signed_headers(
    secret: str, body: bytes, *, webhook_id: str = "msg_1", offset: int = 0
) -> dict[str, str]:
    timestamp = int(time.time()) + offset
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
        "content-type": "application/json",
    }


async def post_webhook(
    studio: Studio, job_id: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """Posts to the job's own webhook URL, token included."""
    url = await studio.webhook_url(WebhookKind.TRAINING, local(job_id))
    return await studio.api.client.post(url, content=body, headers=headers)


def succeeded_body(studio: Studio, training_id: str) -> dict[str, Any]:
    snapshot = dict(studio.fake.snapshot(training_id))
    snapshot.update(status="succeeded", output={"version": "sandrasocial/x:" + "e" * 64})
    return snapshot


@pytest.mark.parametrize(
    ("tamper", "status_code"),
    [
        ("wrong-secret", 401),
        ("stale", 401),
        ("future", 401),
        ("no-signature", 401),
        ("garbage-body", 400),
    ],
)
async def test_bad_webhooks_are_refused_and_change_nothing(
    studio: Studio, tamper: str, status_code: int
) -> None:
    job_id, training_id = await started(studio)
    before = await studio.job("alice", job_id)
    deliveries_before = await studio.count("webhook_deliveries")
    body = json.dumps(succeeded_body(studio, training_id)).encode()
    secret = studio.fake.webhook_secret
    headers = {
        "wrong-secret": signed_headers("whsec_" + "QUJD" * 8, body),
        "stale": signed_headers(secret, body, offset=-301),
        "future": signed_headers(secret, body, offset=301),
        "no-signature": {"content-type": "application/json"},
        "garbage-body": signed_headers(secret, b"{not json"),
    }[tamper]

    response = await post_webhook(
        studio, job_id, b"{not json" if tamper == "garbage-body" else body, headers
    )

    assert response.status_code == status_code
    assert await studio.job("alice", job_id) == before
    assert await studio.count("webhook_deliveries") == deliveries_before
    assert (await studio.model("alice") or {}).get("replicateVersionId") is None


async def test_a_replayed_webhook_is_applied_once(studio: Studio) -> None:
    job_id, training_id = await started(studio)
    await studio.fake.start_processing(training_id)
    await studio.fake.settle()
    snapshot = dict(studio.fake.snapshot(training_id))
    snapshot["logs"] = "flux_train_replicate:  40%|███ | 400/1000 [00:01<00:01, 1s/it]\n"
    body = json.dumps(snapshot).encode()
    headers = signed_headers(studio.fake.webhook_secret, body, webhook_id="msg_replayed")

    first = await post_webhook(studio, job_id, body, headers)
    snapshot["logs"] += "flux_train_replicate:  90%|███ | 900/1000 [00:01<00:01, 1s/it]\n"
    replay_body = json.dumps(snapshot).encode()
    replay = await post_webhook(
        studio,
        job_id,
        replay_body,
        signed_headers(studio.fake.webhook_secret, replay_body, webhook_id="msg_replayed"),
    )

    assert (first.status_code, replay.status_code) == (200, 200)
    assert (await studio.job("alice", job_id))["progress"] == 0.4


async def test_a_webhook_for_another_training_is_refused(studio: Studio) -> None:
    job_id, training_id = await started(studio)
    other = succeeded_body(studio, training_id)
    other["id"] = "someone-elses-training"
    body = json.dumps(other).encode()

    response = await post_webhook(
        studio, job_id, body, signed_headers(studio.fake.webhook_secret, body)
    )

    assert response.status_code == 409
    assert (await studio.job("alice", job_id))["status"] == "STARTING"


async def test_lost_webhooks_are_made_up_for_by_the_reconciler(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> None:
    fake_replicate.drop_webhooks = True
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, webhook_silence_seconds=0.2
    ) as studio:
        job_id, training_id = await started(studio)
        updates = await progress_while_played(studio, job_id, training_id)

    assert updates[-1]["data"]["trainingProgress"]["status"] == "SUCCEEDED"
    assert fake_replicate.deliveries == []
    assert fake_replicate.calls("GET", f"/trainings/{training_id}")


async def test_without_a_public_url_progress_is_polled(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> None:
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, public_base_url=None
    ) as studio:
        job_id, training_id = await started(studio)
        request = fake_replicate.calls("POST", "/models/ostris")[0]
        updates = await progress_while_played(studio, job_id, training_id)

    assert request.json is not None
    assert "webhook" not in request.json
    assert updates[-1]["data"]["trainingProgress"]["status"] == "SUCCEEDED"


async def test_a_body_for_one_job_posted_to_another_jobs_url_is_refused(studio: Studio) -> None:
    alice_job, _ = await started(studio)
    bob_job, bob_training = await started(studio, "bob", first_seed=40)
    before = [await studio.job("alice", alice_job), await studio.job("bob", bob_job)]
    deliveries_before = await studio.count("webhook_deliveries")
    requests_before = len(studio.fake.requests)
    payload = json.dumps(succeeded_body(studio, bob_training)).encode()
    alice_url = await studio.webhook_url(WebhookKind.TRAINING, local(alice_job))
    alice_token = alice_url.partition("&token=")[2]
    forged = f"/webhooks/replicate?training_job={local(bob_job)}&token={alice_token}"

    to_alice = await post_webhook(
        studio, alice_job, payload, signed_headers(studio.fake.webhook_secret, payload)
    )
    forged_answer = await studio.api.client.post(
        forged, content=payload, headers=signed_headers(studio.fake.webhook_secret, payload)
    )
    untokened = await studio.api.client.post(
        f"/webhooks/replicate?training_job={local(bob_job)}",
        content=payload,
        headers=signed_headers(studio.fake.webhook_secret, payload),
    )

    assert (to_alice.status_code, forged_answer.status_code, untokened.status_code) == (
        409,
        403,
        403,
    )
    assert [await studio.job("alice", alice_job), await studio.job("bob", bob_job)] == before
    assert await studio.count("webhook_deliveries") == deliveries_before
    assert len(studio.fake.requests) == requests_before


async def test_a_job_without_a_training_adopts_only_a_confirmed_one(studio: Studio) -> None:
    _, other_training = await started(studio)
    # Bob's create request fails after arriving nowhere: the job waits, training-less.
    studio.fake.fail_next("POST", "/models/ostris", 500)
    body = await studio.start_training("bob", make_selfies(10, first_seed=40))
    job_id = body["data"]["startTraining"]["trainingJob"]["id"]
    before = await studio.job("bob", job_id)
    answers = []
    for training_id in ("made-up-training", other_training):
        payload = json.dumps(succeeded_body(studio, other_training) | {"id": training_id})
        url = await studio.webhook_url(WebhookKind.TRAINING, local(job_id))
        answers.append(
            await studio.api.client.post(
                url,
                content=payload.encode(),
                headers=signed_headers(
                    studio.fake.webhook_secret, payload.encode(), webhook_id=training_id
                ),
            )
        )

    assert [answer.status_code for answer in answers] == [409, 409]
    assert before["status"] == "QUEUED"
    assert await studio.job("bob", job_id) == before
    rows = await studio.rows(
        "SELECT replicate_training_id FROM training_jobs WHERE id = :id", id=local(job_id)
    )
    assert rows == [{"replicate_training_id": None}]
    assert studio.fake.calls("GET", "/trainings/made-up-training")


async def test_a_body_over_1_mb_is_refused_while_it_is_read(studio: Studio) -> None:
    job_id, _ = await started(studio)
    before = await studio.job("alice", job_id)
    url = await studio.webhook_url(WebhookKind.TRAINING, local(job_id))

    async def chunks() -> Any:  # no Content-Length: the cap applies while streaming
        for _ in range(65):
            yield b" " * (16 * 1024)
        yield b"{}"

    response = await studio.api.client.post(
        url, content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert await studio.job("alice", job_id) == before


async def test_without_a_secret_webhooks_answer_503_and_fetches_are_throttled(
    studio: Studio,
) -> None:
    studio.fake.fail_next("GET", "/webhooks/default/secret", 401, times=100)
    job_id, training_id = await started(studio)  # its own webhooks are refused too
    before = await studio.job("alice", job_id)
    payload = json.dumps(succeeded_body(studio, training_id)).encode()

    answers = [
        await post_webhook(
            studio, job_id, payload, signed_headers(studio.fake.webhook_secret, payload)
        )
        for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [503, 503, 503]
    assert all(answer.headers["retry-after"] for answer in answers)
    assert {delivery.status_code for delivery in studio.fake.deliveries} == {503}
    assert len(studio.fake.calls("GET", "/webhooks/default/secret")) == 1
    assert await studio.job("alice", job_id) == before
