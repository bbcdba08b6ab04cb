"""The task queue: tasks queued with the unit of work's transaction, run by the worker."""

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.task_queue import STORE_OUTPUTS, store_outputs_key
from persistence.unit_of_work import SqlUnitOfWork
from tests.fake_replicate import FakeReplicate
from tests.integration.api import token_for
from tests.integration.studio import GENERATION_UPDATED, Studio, local, open_studio
from tests.integration.ws import subscribe
from tests.task_queue import empty_queue, rows, task_log, until

GENERATION_ID = "5b0c4c2e-7d0e-4d65-9a55-2f7c0a1e9b11"


async def _tasks(engine: AsyncEngine, entrypoint: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT dedupe_key, status, payload FROM pgqueuer"
                " WHERE entrypoint = :entrypoint ORDER BY id"
            ),
            {"entrypoint": entrypoint},
        )
        return [dict(row._mapping) for row in rows]


@pytest.fixture
async def queue(engine: AsyncEngine) -> AsyncEngine:
    """The task queue of the test's own: what earlier tests queued is gone."""
    await empty_queue(engine)
    return engine


async def test_a_task_queued_twice_in_a_committed_unit_of_work_is_queued_once(
    queue: AsyncEngine,
) -> None:
    async with SqlUnitOfWork(queue) as uow:
        await uow.tasks.store_outputs(GENERATION_ID)
        await uow.tasks.store_outputs(GENERATION_ID)
        await uow.commit()
    async with SqlUnitOfWork(queue) as uow:
        await uow.tasks.store_outputs(GENERATION_ID)
        await uow.commit()

    assert await _tasks(queue, STORE_OUTPUTS) == [
        {
            "dedupe_key": store_outputs_key(GENERATION_ID),
            "status": "queued",
            "payload": GENERATION_ID.encode(),
        }
    ]


async def test_a_task_queued_in_a_rolled_back_unit_of_work_is_not_queued(
    queue: AsyncEngine,
) -> None:
    async with SqlUnitOfWork(queue) as uow:
        await uow.tasks.store_outputs(GENERATION_ID)
        # Not committed: leaving rolls it back.

    assert await _tasks(queue, STORE_OUTPUTS) == []
    assert await rows(queue, task_log(STORE_OUTPUTS)) == []


async def test_a_duplicate_task_leaves_the_transaction_usable(queue: AsyncEngine) -> None:
    async with SqlUnitOfWork(queue) as uow:
        await uow.tasks.store_outputs(GENERATION_ID)
        await uow.commit()
    async with SqlUnitOfWork(queue) as uow:
        await uow.tasks.store_outputs(GENERATION_ID)
        await uow.users.insert_if_absent("carol1", "carol")
        await uow.commit()

    async with SqlUnitOfWork(queue, read_only=True) as uow:
        user = await uow.users.get_by_subject("carol")
    assert user is not None
    assert user.id == "carol1"


async def test_a_download_runs_on_the_worker_and_the_generation_succeeds(
    studio: Studio, queue: AsyncEngine
) -> None:
    await studio.trained("alice")

    generation = await studio.generated("alice", "on a boat")

    assert generation["status"] == "SUCCEEDED"
    assert len(generation["images"]) == 3
    done = await until(queue, task_log(STORE_OUTPUTS), _succeeded)
    statuses = [row["status"] for row in done]
    assert statuses[0] == "queued"
    assert statuses.count("successful") == 1
    assert "exception" not in statuses
    assert await _tasks(queue, STORE_OUTPUTS) == []


async def test_a_download_failing_for_a_while_is_retried_with_backoff(
    studio: Studio, queue: AsyncEngine
) -> None:
    await studio.trained("alice")
    fake = studio.fake
    body = await studio.maya("alice", "on a boat")
    generation_id = body["data"]["generateMaya"]["generation"]["id"]
    fake.fail_next("GET", "/delivery/", 503, times=2)

    async with subscribe(
        studio.origin, token_for("alice"), GENERATION_UPDATED, {"id": generation_id}
    ) as subscription:
        await subscription.next()
        await fake.succeed_prediction(fake.predictions[-1].id)
        first = await _failed_downloads(fake, 1)
        second = await _failed_downloads(fake, 2)
        meanwhile = await studio.generation("alice", generation_id)
        final = await subscription.payloads_until_complete()
    stored = time.monotonic()

    statuses = [payload["data"]["generationUpdated"]["status"] for payload in final]
    assert meanwhile["status"] == "PROCESSING"
    assert statuses[-1] == "SUCCEEDED"
    assert "SUCCEEDED" not in statuses[:-1]
    # 1 s, then 2 s: the queue's backoff, not an immediate retry.
    assert second - first >= 0.9
    assert stored - second >= 1.8
    assert [call.status for call in fake.calls("GET", "/delivery/")] == [503, 503, 200, 200, 200]
    rows = await studio.rows(
        "SELECT count(*) AS n FROM generated_images WHERE generation_id = :g",
        g=local(generation_id),
    )
    assert rows[0]["n"] == 3


def _succeeded(log: list[dict[str, Any]]) -> bool:
    return any(row["status"] == "successful" for row in log)


async def _failed_downloads(fake: FakeReplicate, count: int) -> float:
    """Waits until `count` output downloads were answered 503; when (monotonic)."""
    await fake.wait_for(
        lambda: len([c for c in fake.calls("GET", "/delivery/") if c.status == 503]) >= count
    )
    return time.monotonic()


async def test_without_a_worker_a_queued_download_waits(
    database_url: str,
    data_dir: Path,
    queue: AsyncEngine,
    fake_replicate: FakeReplicate,
) -> None:
    async with open_studio(
        database_url, data_dir, queue, fake_replicate, run_worker=False
    ) as studio:
        async with SqlUnitOfWork(queue) as uow:
            await uow.tasks.store_outputs(GENERATION_ID)
            await uow.commit()
        # A round trip through the served app: it is up, and still ran nothing.
        await studio.api.graphql("{ me { id } }", token=token_for("alice"))
        waiting = await _tasks(queue, STORE_OUTPUTS)

    assert [task["status"] for task in waiting] == ["queued"]
    assert await _tasks(queue, "reconcile") == []
