"""Change notices across replicas: NOTIFY in the writing transaction, LISTEN on one connection.

NOTIFY is transactional, so a notice goes out only when the change is committed.
The listener keeps one dedicated connection; when it is lost it reconnects and asks
every follower to re-read, since notices sent meanwhile are gone.
"""

import asyncio
import json
import logging
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import EventHub, generation_topic, training_topic
from domain.generation.models import Generation
from domain.training.models import TrainingJob, job_snapshot

log = logging.getLogger(__name__)

CHANNEL = "sselfie_events"
# PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more (and aborts the writing
# transaction): a notice larger than this goes out without its data, and followers
# re-read the state instead.
MAX_PAYLOAD_BYTES = 4000
LISTENER_APPLICATION_NAME = "sselfie-listener"
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


class SqlEventPublisher:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def training_changed(self, job: TrainingJob) -> None:
        await self._notify(training_topic(job.id), job_snapshot(job))

    async def generation_changed(self, generation: Generation) -> None:
        # Followers re-read a generation (its images live in another table).
        await self._notify(generation_topic(generation.id), {"status": generation.status.value})

    async def _notify(self, topic: str, data: dict[str, object]) -> None:
        await self._connection.execute(select(func.pg_notify(CHANNEL, notice_payload(topic, data))))


def notice_payload(topic: str, data: dict[str, object]) -> str:
    """The NOTIFY payload: ASCII JSON (bytes = characters), never over MAX_PAYLOAD_BYTES."""
    payload = json.dumps({"topic": topic, "data": data}, separators=(",", ":"))
    if len(payload) <= MAX_PAYLOAD_BYTES:
        return payload
    log.info("notice for %s sent without its data (%d bytes)", topic, len(payload))
    return json.dumps({"topic": topic[:200], "data": None}, separators=(",", ":"))


class PostgresListener:
    """Feeds the EventHub from every replica's NOTIFYs."""

    def __init__(self, dsn: str, hub: EventHub) -> None:
        self._dsn = dsn
        self._hub = hub
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()

    @property
    def is_listening(self) -> bool:
        """Whether notices are received now: false before start, while reconnecting, after stop."""
        running = self._task is not None and not self._task.done()
        return running and self._connected.is_set() and not self._lost.is_set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="postgres-listener")
        await self._connected.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": LISTENER_APPLICATION_NAME}
                )
            except (OSError, asyncpg.PostgresError) as error:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                log.warning("event listener cannot connect (%s); retrying in %.1fs", error, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            attempt = 0
            try:
                await self._listen(connection)
            finally:
                await _close_quietly(connection)

    async def _listen(self, connection: Any) -> None:
        self._lost.clear()
        connection.add_termination_listener(lambda _connection: self._lost.set())
        await connection.add_listener(CHANNEL, self._on_notification)
        if self._connected.is_set():
            log.info("event listener reconnected; followers re-read their state")
            self._hub.resync_all()
        self._connected.set()
        await self._lost.wait()
        log.warning("event listener lost its connection")

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            data = message["data"]
            self._hub.dispatch(message["topic"], data if isinstance(data, dict) else None)
        except (ValueError, KeyError, TypeError):
            log.exception("ignored a malformed notice")


async def _close_quietly(connection: Any) -> None:
    try:
        await asyncio.wait_for(connection.close(), timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        connection.terminate()
