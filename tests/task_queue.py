"""Looking at the task queue's tables from a test, and waiting on them without polling."""

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

QUEUE_CHANNEL = "ch_pgqueuer"  # PgQueuer NOTIFYs every change to its queue there

Rows = list[dict[str, Any]]


async def empty_queue(engine: AsyncEngine) -> None:
    """Forgets what earlier tests queued (the tables fixture empties are the product's)."""
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE pgqueuer, pgqueuer_log"))


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> Rows:
    async with engine.connect() as connection:
        result = await connection.execute(text(sql), params)
        return [dict(row._mapping) for row in result]


async def until(
    engine: AsyncEngine, sql: str, done: Callable[[Rows], bool], seconds: float = 10.0
) -> Rows:
    """The query's rows once `done` holds for them, asked again at each change of the task
    queue (its NOTIFY); TimeoutError after `seconds`."""
    changed = asyncio.Event()
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    listener = await asyncpg.connect(dsn)
    try:
        await listener.add_listener(QUEUE_CHANNEL, lambda *_: changed.set())
        async with asyncio.timeout(seconds):
            while True:
                changed.clear()
                if done(found := await rows(engine, sql)):
                    return found
                await changed.wait()
    finally:
        await listener.close()


def task_log(entrypoint: str) -> str:
    """The statuses a task went through (`status` rows), oldest first."""
    return (
        "SELECT status FROM pgqueuer_log"  # noqa: S608 (test SQL, our own constant)
        f" WHERE entrypoint = '{entrypoint}' ORDER BY id"
    )
