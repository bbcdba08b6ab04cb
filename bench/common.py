"""Shared parts of the benchmarks: a database of their own, the machine, percentiles."""

import os
import platform
import statistics
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from persistence import migrate
from persistence.database import create_engine
from tests import postgres


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


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
            server_url, handle = postgres.start_server(Path(root))
        url = await postgres.create_database(server_url)
        engine = create_engine(url, pool_size=1)
        await migrate.upgrade(engine)
        await engine.dispose()
        try:
            yield url
        finally:
            await postgres.drop_database(server_url, url)
            if handle is not None:
                handle.cleanup()
