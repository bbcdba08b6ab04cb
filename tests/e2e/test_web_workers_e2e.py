"""`sselfie serve --workers N` (or WEB_CONCURRENCY): several processes on one port."""

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.servers import ready_when_serving, started
from persistence import migrate
from persistence.database import create_engine
from tests import postgres
from tests.e2e import processes as proc
from tests.e2e.journeys import start_training
from tests.e2e.server_process import ServerProcess, free_port, run_sselfie, sselfie_env, studio_env
from tests.fake_replicate import FakeReplicate
from tests.integration.api import token_for
from tests.integration.studio import TRAINING_PROGRESS
from tests.integration.ws import Subscription, connect, send_subscribe

# Connections opened, at most, until each process holds a subscription: the kernel hands
# each new connection to one of the processes accepting on the shared socket.
MAX_CONNECTIONS = 24
STOP_SECONDS = 30


@pytest.fixture
async def fresh_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A database of the test's own, not migrated yet."""
    url = await postgres.create_database(postgres_server_url)
    yield url
    await postgres.drop_database(postgres_server_url, url)


@contextmanager
def serving(
    env: dict[str, str], *args: str, processes: int, port: int | None = None
) -> Iterator[ServerProcess]:
    """`sselfie serve ARGS` on `port`, once its `processes` serving processes are ready."""
    port = port or free_port()
    line, count = ready_when_serving(processes)
    command = ["server.cli", "serve", "--port", str(port), *args]
    with started(
        command, env, port, ready_line=line, ready_count=count, grace_seconds=STOP_SECONDS
    ) as server:
        yield ServerProcess(server.base_url, server.ws_url, env, server.output, server.process)


def serving_processes(server: ServerProcess) -> list[int]:
    """The pids of the server's children accepting on its port (not multiprocessing's
    helpers)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    return [
        child
        for child in proc.children(server.process.pid)
        if any(
            held.state == proc.LISTEN and held.local_port == port
            for held in proc.tcp_sockets(child)
        )
    ]


def holder(processes: list[int], client_address: tuple[str, int]) -> int:
    """The pid of the process holding the server's end of this client's connection."""
    for pid in processes:
        if any(held.remote_port == client_address[1] for held in proc.tcp_sockets(pid)):
            return pid
    raise AssertionError(f"no serving process holds the connection from {client_address}")


def is_error_line(line: str) -> bool:
    """An error's line, in the console format or in JSON (production's default)."""
    return "[error" in line or '"level": "error"' in line


def lines_with(server: ServerProcess, fragment: str) -> int:
    return sum(fragment in line for line in server.output)


async def alembic_revisions(database_url: str) -> list[str]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            found = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return [row[0] for row in found]
    finally:
        await engine.dispose()


async def subscriptions_on_every_process(
    stack: AsyncExitStack, server: ServerProcess, job_id: str
) -> tuple[list[Subscription], dict[int, int]]:
    """Subscriptions to the training on new connections until every process holds one;
    how many each process holds."""
    processes = serving_processes(server)
    subscriptions: list[Subscription] = []
    held: dict[int, int] = {}
    while len(held) < len(processes) and len(subscriptions) < MAX_CONNECTIONS:
        connection: Any = await stack.enter_async_context(
            connect(server.base_url, token_for("alice"))
        )
        await send_subscribe(connection, "1", TRAINING_PROGRESS, {"id": job_id})
        subscription = Subscription(connection, "1")
        await subscription.next()  # the job as it is: the subscription is listening
        pid = holder(processes, connection.local_address)
        held[pid] = held.get(pid, 0) + 1
        subscriptions.append(subscription)
    return subscriptions, held


async def test_events_reach_subscribers_on_every_process(
    database_url: str, tmp_path: Path, fake: FakeReplicate, engine: AsyncEngine
) -> None:
    port = free_port()
    # Polling would bring the news too: only the webhook (to one process) may bring it.
    env = studio_env(
        database_url, tmp_path, fake, f"http://127.0.0.1:{port}", WEBHOOK_SILENCE_SECONDS="600"
    )

    with serving(env, "--workers", "2", processes=2, port=port) as server:
        processes = serving_processes(server)
        job_id = await start_training(server.base_url)
        async with AsyncExitStack() as stack:
            subscriptions, held = await subscriptions_on_every_process(stack, server, job_id)
            await fake.start_processing(fake.trainings[-1].id)
            updates = [await subscription.next() for subscription in subscriptions]

    assert len(processes) == 2
    assert set(held) == set(processes)
    assert [update["type"] for update in updates] == ["next"] * len(subscriptions)
    statuses = {update["payload"]["data"]["trainingProgress"]["status"] for update in updates}
    assert statuses == {"PROCESSING"}
    assert fake.deliveries
    assert all(delivery.status_code == 200 for delivery in fake.deliveries)


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["--workers", "2"], {}),
        ([], {"WEB_CONCURRENCY": "2"}),
        (["--workers", "2"], {"WEB_CONCURRENCY": "3"}),  # the flag wins
    ],
    ids=["flag", "WEB_CONCURRENCY", "flag-over-WEB_CONCURRENCY"],
)
async def test_processes_share_the_port_migrate_once_and_stop_on_sigterm(
    fresh_database_url: str, tmp_path: Path, args: list[str], extra: dict[str, str]
) -> None:
    env = sselfie_env(tmp_path, DATABASE_URL=fresh_database_url, **extra)

    with serving(env, *args, processes=2) as server:
        processes = serving_processes(server)
        server.process.terminate()
        code = server.process.wait(timeout=STOP_SECONDS)

    assert len(processes) == 2
    assert await alembic_revisions(fresh_database_url) == [migrate.head_revision()]
    # Alembic says this once per migration run (or revision check: none was asked for).
    assert lines_with(server, "Context impl PostgresqlImpl") == 1
    assert lines_with(server, "Running upgrade  -> 0001") == 1
    assert code == 0
    # The parent waits for its children before it exits.
    assert [pid for pid in processes if proc.is_running(pid)] == []
    assert lines_with(server, "Application shutdown complete") == 2
    assert lines_with(server, "Traceback") == 0


async def test_the_embedded_database_is_started_once_for_every_process(tmp_path: Path) -> None:
    env = sselfie_env(tmp_path)  # no DATABASE_URL

    with serving(env, "--workers", "2", processes=2) as server:
        processes = serving_processes(server)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            ready = [(await client.get("/readyz")).json() for _ in range(2)]

    assert len(processes) == 2
    assert ready == [{"status": "ready", "migration": migrate.head_revision()}] * 2
    assert lines_with(server, "embedded PostgreSQL ready") == 1
    assert (tmp_path / "postgres").is_dir()


@pytest.mark.parametrize(
    ("args", "extra", "named"),
    [
        (["--workers", "2"], {"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY"),
        (["--workers", "2"], {"SSELFIE_ENV": "production"}, "PUBLIC_BASE_URL"),
    ],
)
def test_unfit_settings_are_refused_before_any_process_starts(
    database_url: str, tmp_path: Path, args: list[str], extra: dict[str, str], named: str
) -> None:
    env = sselfie_env(tmp_path, DATABASE_URL=database_url, **extra)

    result = run_sselfie("serve", "--port", "0", *args, env=env)

    errors = [line for line in result.stderr.splitlines() if is_error_line(line)]
    assert result.returncode == 2
    assert len(errors) == 1
    assert named in errors[0]
    assert "Started parent process" not in result.stderr


def test_a_worker_count_below_one_is_refused(database_url: str, tmp_path: Path) -> None:
    env = sselfie_env(tmp_path, DATABASE_URL=database_url)

    result = run_sselfie("serve", "--workers", "0", env=env)

    assert result.returncode == 2
    assert "--workers: 0 is not a positive number" in result.stderr
