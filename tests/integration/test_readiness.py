"""Readiness tells the truth: not ready while the LISTEN connection or the task worker is
down, ready again once they reconnect."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.notifications import LISTENER_APPLICATION_NAME
from server.worker import WORKER_APPLICATION_NAME
from settings import Environment
from tests.fake_replicate import FakeReplicate
from tests.integration.studio import Studio, open_studio

WAIT_SECONDS = 20.0


async def readiness_until(studio: Studio, status_code: int) -> httpx.Response:
    """/readyz's answer once it has `status_code`: asked again as soon as it answers (each
    answer is a round trip through the server, which meanwhile reconnects)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while (response := await studio.api.client.get("/readyz")).status_code != status_code:
            pass
        return response


@dataclass(frozen=True)
class Admin:
    """A connection to the server's maintenance database, acting on the test's database."""

    connection: asyncpg.Connection
    database: str

    async def terminate(self, application_name: str) -> int:
        """Ends the server processes of the database's connections named so; how many."""
        terminated = await self.connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = $2",
            application_name,
            self.database,
        )
        return len(terminated)


@asynccontextmanager
async def connections_refused(engine: AsyncEngine) -> AsyncIterator[Admin]:
    """While open, the test's database takes no new connection, so whatever loses its own
    stays disconnected."""
    url = engine.url.set(drivername="postgresql", database="postgres")
    database = str(engine.url.database)
    admin = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            yield Admin(admin, database)
        finally:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


async def test_not_ready_while_the_listen_connection_is_down(studio: Studio) -> None:
    ready = await readiness_until(studio, 200)

    async with connections_refused(studio.engine) as admin:
        terminated = await admin.terminate(LISTENER_APPLICATION_NAME)
        down = await readiness_until(studio, 503)
        listening_while_down = studio.runtime.listener.is_listening
    back = await readiness_until(studio, 200)

    assert ready.json()["status"] == "ready"
    assert terminated == 1
    assert down.json() == {"status": "unavailable", "reason": "the LISTEN connection is down"}
    assert listening_while_down is False
    assert studio.runtime.listener.is_listening
    assert back.json()["status"] == "ready"


async def test_not_ready_while_the_task_worker_is_down(studio: Studio) -> None:
    worker = studio.runtime.worker
    assert worker is not None
    await readiness_until(studio, 200)

    async with connections_refused(studio.engine) as admin:
        terminated = await admin.terminate(WORKER_APPLICATION_NAME)
        down = await readiness_until(studio, 503)
        running_while_down = worker.is_running
    back = await readiness_until(studio, 200)

    assert terminated == 1
    assert down.json() == {"status": "unavailable", "reason": "the task worker is not running"}
    assert running_while_down is False
    assert worker.is_running
    assert back.json()["status"] == "ready"


async def test_without_a_task_worker_readiness_does_not_ask_for_one(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> None:
    async with open_studio(
        database_url, data_dir, engine, fake_replicate, run_worker=False
    ) as studio:
        ready = await studio.api.client.get("/readyz")
        workers = await studio.rows(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = :name AND datname = current_database()",
            name=WORKER_APPLICATION_NAME,
        )

    assert studio.runtime.worker is None
    assert workers == []
    assert ready.status_code == 200


async def test_in_production_the_reason_goes_only_to_the_log(
    database_url: str,
    data_dir: Path,
    engine: AsyncEngine,
    fake_replicate: FakeReplicate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        open_studio(
            database_url, data_dir, engine, fake_replicate, env=Environment.PRODUCTION
        ) as studio,
        connections_refused(engine) as admin,
    ):
        await admin.terminate(LISTENER_APPLICATION_NAME)
        down = await readiness_until(studio, 503)

    assert down.json() == {"status": "unavailable"}
    assert "not ready: the LISTEN connection is down" in caplog.text
