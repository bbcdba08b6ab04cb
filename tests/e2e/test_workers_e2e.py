"""Background tasks in real `sselfie worker` processes: crashes, replicas, and none at all."""

from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.journeys import trained_and_generating
from tests.e2e.server_process import (
    free_port,
    sselfie_server,
    sselfie_worker,
    stored_originals,
    studio_env,
)
from tests.fake_replicate import FakeReplicate
from tests.integration.api import Api, token_for
from tests.integration.studio import (
    GENERATION_UPDATED,
    START_TRAINING,
    TRAINING_PROGRESS,
)
from tests.integration.ws import subscribe
from tests.selfies import make_selfies
from tests.task_queue import empty_queue, rows, until

INTERVAL = 0.2
HEARTBEAT = 1.0


@pytest.fixture
async def queue(engine: AsyncEngine) -> AsyncEngine:
    """The task queue of the test's own: what earlier tests queued is gone."""
    await empty_queue(engine)
    return engine


def worker_env(
    database_url: str, data_dir: Path, fake: FakeReplicate, public_base_url: str, **extra: str
) -> dict[str, str]:
    return studio_env(
        database_url,
        data_dir,
        fake,
        public_base_url,
        RECONCILE_INTERVAL_SECONDS=str(INTERVAL),
        TASK_HEARTBEAT_SECONDS=str(HEARTBEAT),
        **extra,
    )


def downloads(fake: FakeReplicate) -> int:
    return len(fake.calls("GET", "/delivery/"))


async def test_a_download_waits_for_a_worker_and_survives_the_worker_being_killed(
    database_url: str, tmp_path: Path, fake: FakeReplicate, queue: AsyncEngine
) -> None:
    port = free_port()
    env = worker_env(database_url, tmp_path, fake, f"http://127.0.0.1:{port}")

    with sselfie_server(env, port=port, worker=False) as web:
        generation_id = await trained_and_generating(web.base_url, fake, "on a boat")
        async with subscribe(
            web.base_url, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
        ) as subscription:
            await subscription.next()
            fake.hold_outputs()
            await fake.succeed_prediction(fake.predictions[-1].id)
            await fake.settle()
            # Served without a worker: the download is queued, and nobody runs it.
            queued = await until(
                queue,
                "SELECT status FROM pgqueuer WHERE entrypoint = 'store_outputs'",
                bool,
                10,
            )
            downloads_without_worker = downloads(fake)

            with sselfie_worker(env) as first:
                await fake.wait_for(lambda: downloads(fake) >= 1)
                first.kill()  # mid-download: the fake holds the output's answer
            fake.release_outputs()

            with sselfie_worker(env):
                final = await subscription.payloads_until_complete()

    assert [row["status"] for row in queued] == ["queued"]
    assert downloads_without_worker == 0
    generation = final[-1]["data"]["generationUpdated"]
    assert generation["status"] == "SUCCEEDED"
    assert len(generation["images"]) == 3
    stored = await rows(queue, "SELECT count(*) AS n FROM generated_images")
    assert stored[0]["n"] == 3
    assert len(stored_originals(env, generation_id)) == 3
    assert await rows(queue, "SELECT id FROM pgqueuer WHERE entrypoint = 'store_outputs'") == []


async def test_two_workers_run_one_reconcile_round_per_period_and_apply_once(
    database_url: str, tmp_path: Path, fake: FakeReplicate, queue: AsyncEngine
) -> None:
    port = free_port()
    env = worker_env(
        database_url, tmp_path, fake, f"http://127.0.0.1:{port}", WEBHOOK_SILENCE_SECONDS="0.5"
    )

    with (
        sselfie_server(env, port=port, worker=False) as web,
        sselfie_worker(env),
        sselfie_worker(env),
    ):
        rounds = await _reconcile_rounds(queue, 12)
        async with httpx.AsyncClient(base_url=web.base_url, timeout=30) as client:
            files = [(f"{i}.jpg", image) for i, image in enumerate(make_selfies(10))]
            body = await Api(client).upload(START_TRAINING, files, token=token_for("alice"))
        job_id = body["data"]["startTraining"]["trainingJob"]["id"]
        training_id = fake.trainings[-1].id
        fake.drop_webhooks = True  # only the workers' polling brings news
        async with subscribe(
            web.base_url, token_for("alice"), TRAINING_PROGRESS, {"id": job_id}
        ) as subscription:
            await subscription.next()
            await fake.start_processing(training_id)
            await fake.advance(training_id, 500, total=1000)
            await fake.succeed(training_id)
            updates = await subscription.payloads_until_complete()

    # One round per period across both workers: twelve rounds span eleven periods (a round
    # per worker and period would span about six); the slack is for late proposals.
    assert (rounds[-1] - rounds[0]).total_seconds() >= 9 * INTERVAL
    statuses = [update["data"]["trainingProgress"]["status"] for update in updates]
    progresses = [update["data"]["trainingProgress"]["progress"] for update in updates]
    assert statuses[-1] == "SUCCEEDED"
    assert statuses.count("SUCCEEDED") == 1
    assert progresses == sorted(progresses)
    versions = await rows(
        queue, "SELECT replicate_version_id FROM user_models WHERE status = 'READY'"
    )
    assert len(versions) == 1


async def _reconcile_rounds(engine: AsyncEngine, count: int) -> list[datetime]:
    """When the first `count` reconcile rounds were queued (one entry per round)."""
    found = await until(
        engine,
        "SELECT created FROM pgqueuer_log"
        " WHERE entrypoint = 'reconcile' AND status = 'queued' ORDER BY created",
        lambda found: len(found) >= count,
        30,
    )
    return [row["created"] for row in found[:count]]


async def test_a_worker_stops_cleanly_on_sigterm(
    database_url: str, tmp_path: Path, fake: FakeReplicate, queue: AsyncEngine
) -> None:
    env = worker_env(database_url, tmp_path, fake, "http://127.0.0.1:9")

    with sselfie_worker(env) as worker:
        await _reconcile_rounds(queue, 3)
        hourly = await rows(queue, "SELECT id FROM pgqueuer WHERE entrypoint = 'forget_webhooks'")
        worker.process.terminate()
        code = worker.process.wait(timeout=10)

    assert len(hourly) == 1  # the next hour's, proposed once
    assert code == 0
    assert any("stopping" in line for line in worker.output)
    assert not any("Traceback" in line for line in worker.output)
