"""Shared parts of the benchmarks: a database of their own, the machine, percentiles."""

import os
import platform
import statistics
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from persistence import migrate
from persistence.database import asyncpg_dsn, create_engine


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def worker_counts(text: str) -> list[int]:
    """`--workers 1,2`: the `sselfie serve --workers` counts to run with, in order."""
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise ValueError(f"not a list of positive counts: {text!r}")
    return counts


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(values, 0.99) * 1000:.1f} ms, "
        f"mean {statistics.fmean(values) * 1000:.1f} ms"
    )


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A migrated database of the benchmark's own (TEST_DATABASE_URL's server, or embedded)."""
    configured = os.environ.get("TEST_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="sselfie-bench-") as root:
        handle = None
        if configured:
            server_url = configured
        else:
            from pgserver.postgres_server import get_server

            handle = get_server(Path(root) / "pg", cleanup_mode="stop")
            server_url = handle.get_uri("postgres")
        name = f"sselfie_bench_{uuid.uuid4().hex[:12]}"
        await _maintain(server_url, f'CREATE DATABASE "{name}"')
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(url, pool_size=1)
        await migrate.upgrade(engine)
        await engine.dispose()
        try:
            yield url
        finally:
            await _maintain(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if handle is not None:
                handle.cleanup()


async def _maintain(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
