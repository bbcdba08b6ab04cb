"""What the metrics read from the database when scraped: jobs by status, and the task queue.

One grouped query per table, run only by the process answering the scrape (nothing is
stored between scrapes). The task queue's table holds only tasks not done yet, so it stays
small; counting the jobs by status reads their tables whole, which a scrape every 15 s or
more affords up to millions of rows.
"""

import asyncio
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.task_queue import (
    COLLECT_ORPHANS,
    DELETE_ACCOUNT,
    DELETE_STORED_IMAGES,
    DELETE_TRAINING_UPLOAD,
    FORGET_WEBHOOKS,
    MAKE_RENDITIONS,
    RECONCILE,
    STORE_OUTPUTS,
)

# Reported even while none is queued (a series that exists at 0 is one alerts can read).
ENTRYPOINTS = (
    STORE_OUTPUTS,
    MAKE_RENDITIONS,
    RECONCILE,
    FORGET_WEBHOOKS,
    DELETE_TRAINING_UPLOAD,
    DELETE_STORED_IMAGES,
    DELETE_ACCOUNT,
    COLLECT_ORPHANS,
)
TASK_STATUSES = ("queued", "picked")

_JOBS_BY_STATUS = """
SELECT status, count(*) AS count,
       EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest_seconds
FROM {table}
GROUP BY status
"""
_TASKS = """
SELECT entrypoint, status::text AS status, count(*) AS count,
       COALESCE(EXTRACT(EPOCH FROM now() - min(execute_after) FILTER (
           WHERE status = 'queued' AND execute_after <= now()
       )), 0)::float8 AS oldest_due_seconds
FROM pgqueuer
GROUP BY entrypoint, status
"""


@dataclass(frozen=True)
class JobsInStatus:
    status: str
    count: int
    # How long ago the oldest job in this status was created.
    oldest_seconds: float


@dataclass(frozen=True)
class TasksInStatus:
    entrypoint: str
    status: str  # queued or picked (running)
    count: int
    # How long the oldest queued task whose time has come has waited (0 for none).
    oldest_due_seconds: float


@dataclass(frozen=True)
class StatusCounts:
    trainings: list[JobsInStatus]
    generations: list[JobsInStatus]
    tasks: list[TasksInStatus]


async def read_status_counts(connection: asyncpg.Connection) -> StatusCounts:
    return StatusCounts(
        trainings=await _jobs(connection, "training_jobs"),
        generations=await _jobs(connection, "generations"),
        tasks=[
            TasksInStatus(row["entrypoint"], row["status"], row["count"], row["oldest_due_seconds"])
            for row in await connection.fetch(_TASKS)
        ],
    )


async def read_status_counts_with(engine: AsyncEngine, *, timeout_seconds: float) -> StatusCounts:
    """Over one of the engine's pooled connections."""
    async with asyncio.timeout(timeout_seconds), engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver_connection: asyncpg.Connection = raw.driver_connection
        return await read_status_counts(driver_connection)


async def read_status_counts_at(dsn: str, *, timeout_seconds: float) -> StatusCounts:
    """Over a connection of its own, closed after (for a process without an engine)."""
    async with asyncio.timeout(timeout_seconds):
        connection = await asyncpg.connect(dsn, server_settings={"application_name": "sselfie"})
        try:
            return await read_status_counts(connection)
        finally:
            await connection.close()


async def _jobs(connection: asyncpg.Connection, table: str) -> list[JobsInStatus]:
    rows = await connection.fetch(_JOBS_BY_STATUS.format(table=table))
    return [JobsInStatus(row["status"], row["count"], row["oldest_seconds"]) for row in rows]
