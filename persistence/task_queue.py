"""The task queue: PgQueuer's tables, written in the unit of work's own transaction.

A task queued here exists once the transaction commits and not at all if it rolls back,
so a row change and the work it calls for are never separated by a crash. A task queued
while a request runs carries that request's id and trace context in its headers.
"""

from datetime import datetime, timedelta

import asyncpg
import structlog
from opentelemetry import propagate
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Entrypoint names; server/worker.py registers a handler under each.
STORE_OUTPUTS = "store_outputs"
MAKE_RENDITIONS = "make_renditions"
RECONCILE = "reconcile"
FORGET_WEBHOOKS = "forget_webhooks"
DELETE_TRAINING_UPLOAD = "delete_training_upload"
DELETE_STORED_IMAGES = "delete_stored_images"
DELETE_ACCOUNT = "delete_account"
COLLECT_ORPHANS = "collect_orphans"
# The header carrying the id of the request that queued the task (the worker logs with it).
REQUEST_ID_HEADER = "request_id"
# Where that id is while the request runs: the log context field the server binds.
_REQUEST_ID_LOG_FIELD = "request_id"


def store_outputs_key(generation_id: str) -> str:
    return f"{STORE_OUTPUTS}:{generation_id}"


def make_renditions_key(generation_id: str) -> str:
    return f"{MAKE_RENDITIONS}:{generation_id}"


async def enqueue_once(
    queries: Queries,
    entrypoint: str,
    payload: bytes,
    dedupe_key: str,
    *,
    after: timedelta | None = None,
) -> bool:
    """Queues the task unless one with `dedupe_key` is queued or running; whether it did.

    A duplicate is skipped in SQL (ON CONFLICT DO NOTHING): a unique violation would
    abort the caller's transaction.
    """
    ids = await queries.enqueue(
        entrypoint,
        payload,
        execute_after=after,
        dedupe_key=dedupe_key,
        headers=carried_context(),
        on_conflict="skip",
    )
    return ids[0] is not None


def carried_context() -> dict[str, str] | None:
    """The running request's id and W3C trace context (none outside a request or trace)."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    request_id = structlog.contextvars.get_contextvars().get(_REQUEST_ID_LOG_FIELD)
    if isinstance(request_id, str):
        headers[REQUEST_ID_HEADER] = request_id
    return headers or None


class SqlTaskQueue:
    """The domain's TaskQueue on the unit of work's connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def store_outputs(self, generation_id: str) -> None:
        await enqueue_once(
            await self._queries(),
            STORE_OUTPUTS,
            generation_id.encode(),
            store_outputs_key(generation_id),
        )

    async def make_renditions(self, generation_id: str) -> None:
        await enqueue_once(
            await self._queries(),
            MAKE_RENDITIONS,
            generation_id.encode(),
            make_renditions_key(generation_id),
        )

    async def delete_training_upload(self, job_id: str) -> None:
        await self._once(DELETE_TRAINING_UPLOAD, job_id)

    async def delete_stored_images(self, key_prefix: str) -> None:
        await self._once(DELETE_STORED_IMAGES, key_prefix)

    async def delete_account(self, deletion_id: str) -> None:
        await self._once(DELETE_ACCOUNT, deletion_id)

    async def _once(self, entrypoint: str, subject: str) -> None:
        await enqueue_once(
            await self._queries(), entrypoint, subject.encode(), f"{entrypoint}:{subject}"
        )

    async def _queries(self) -> Queries:
        raw = await self._connection.get_raw_connection()
        driver_connection: asyncpg.Connection = raw.driver_connection
        if not driver_connection.is_in_transaction():
            # The dialect begins lazily, on its first statement: begin before writing on
            # the driver connection, or the task would commit on its own.
            await self._connection.execute(text("SELECT 1"))
        return Queries(AsyncpgDriver(driver_connection))


async def forget_task_log_before(queries: Queries, moment: datetime) -> None:
    """Drops the task log's entries older than `moment` (it only ever grows otherwise)."""
    await queries.driver.execute("DELETE FROM pgqueuer_log WHERE created < $1", moment)
