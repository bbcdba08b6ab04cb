"""/metrics: what the serving processes counted, and the database's counts read at the scrape.

Served either way, or both:
- on the public port, only for `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise;
  404 while METRICS_TOKEN is unset);
- on METRICS_HOST:METRICS_PORT to whoever reaches it (loopback unless METRICS_HOST says
  otherwise), by the `sselfie` command's own process: under `--workers N` the parent,
  which serves what its children counted.

Under `--workers N` each child keeps its values in files in PROMETHEUS_MULTIPROC_DIR (a
directory the parent makes before they start and removes once they have ended), and a
scrape adds up every process's, whichever process answers it. The open subscriptions of a
process that died are dropped at the next scrape; its counts stay in the sums.
"""

import asyncio
import hmac
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    generate_latest,
    start_http_server,
    values,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from domain.generation.models import GenerationStatus
from domain.job_status import JobStatus
from domain.training.models import TrainingStatus
from persistence.database import asyncpg_dsn
from persistence.status_counts import (
    ENTRYPOINTS,
    TASK_STATUSES,
    JobsInStatus,
    StatusCounts,
    read_status_counts_at,
    read_status_counts_with,
)
from server.metrics import OTHER
from server.runtime import Runtime
from settings import Settings

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# A scrape waits no longer for the database's counts; without them it says so
# (sselfie_metrics_database_up 0) and serves the rest.
DATABASE_TIMEOUT_SECONDS = 5.0

_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]*_(\d+)\.db")
_PLAIN_LABEL = re.compile(r"[A-Za-z0-9_]{1,64}")

log = logging.getLogger(__name__)


class MetricsPortUnusable(Exception):
    """METRICS_PORT cannot be listened on; the message names the setting and why."""


# -- what a scrape collects -----------------------------------------------------------------


def this_process_directory() -> str | None:
    """Where this process keeps its values, if prometheus_client was imported in
    multiprocess mode (PROMETHEUS_MULTIPROC_DIR set by then); None if it keeps them in memory."""
    if getattr(values.ValueClass, "_multiprocess", False):
        return os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    return None


class _ThisProcess:
    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class _EveryProcess:
    def __init__(self, directory: str) -> None:
        self._directory = directory

    def collect(self) -> Iterable[Metric]:
        forget_dead_processes(self._directory)
        # prometheus_client's multiprocess module has no annotations.
        collector = MultiProcessCollector(None, path=self._directory)  # type: ignore[no-untyped-call]
        metrics: Iterable[Metric] = collector.collect()  # type: ignore[no-untyped-call]
        return metrics


class _Together:
    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


class _Fixed:
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def counted_by_processes(directory: str | None) -> Collector:
    """Every process's values kept in `directory`, or this process's own (None)."""
    return _ThisProcess() if directory is None else _EveryProcess(directory)


def forget_dead_processes(directory: str) -> None:
    """Drops the live-only gauges (open subscriptions) of processes that have ended."""
    for path in Path(directory).iterdir():
        found = _LIVE_GAUGE_FILE.fullmatch(path.name)
        if found is not None and not _is_running(int(found[1])):
            with suppress(FileNotFoundError):  # another scrape got there first
                mark_process_dead(int(found[1]), directory)  # type: ignore[no-untyped-call]


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def database_metrics(counts: StatusCounts | None) -> list[Metric]:
    up = GaugeMetricFamily(
        "sselfie_metrics_database_up",
        "1 when this scrape read the counts below from the database, 0 when it could not.",
        value=0 if counts is None else 1,
    )
    if counts is None:
        return [up]
    return [
        up,
        *_jobs_metrics("trainings", "Training jobs", TrainingStatus, counts.trainings),
        *_jobs_metrics("generations", "Generations", GenerationStatus, counts.generations),
        *_task_metrics(counts),
    ]


def _jobs_metrics(
    name: str, what: str, statuses: type[JobStatus], rows: list[JobsInStatus]
) -> list[Metric]:
    found = {row.status: row for row in rows}
    count = GaugeMetricFamily(f"sselfie_{name}", f"{what} by status.", labels=["status"])
    oldest = GaugeMetricFamily(
        f"sselfie_{name}_oldest_age_seconds",
        f"Age of the oldest of the {what.lower()} in each active status (0 for none).",
        labels=["status"],
    )
    for status in statuses:
        row = found.get(status.value)
        count.add_metric([status.value], row.count if row else 0)
        if not status.is_terminal:
            oldest.add_metric([status.value], row.oldest_seconds if row else 0.0)
    return [count, oldest]


def _task_metrics(counts: StatusCounts) -> list[Metric]:
    tasks = GaugeMetricFamily(
        "sselfie_task_queue_tasks",
        "Tasks in the queue by entrypoint and status (queued, or picked: running).",
        labels=["entrypoint", "status"],
    )
    waiting = GaugeMetricFamily(
        "sselfie_task_queue_oldest_due_age_seconds",
        "How long the oldest queued task whose time has come has waited, by entrypoint.",
        labels=["entrypoint"],
    )
    depth = {(entrypoint, status): 0 for entrypoint in ENTRYPOINTS for status in TASK_STATUSES}
    oldest = dict.fromkeys(ENTRYPOINTS, 0.0)
    for row in counts.tasks:
        entrypoint = _plain(row.entrypoint)
        depth[entrypoint, row.status] = depth.get((entrypoint, row.status), 0) + row.count
        oldest[entrypoint] = max(oldest.get(entrypoint, 0.0), row.oldest_due_seconds)
    for (entrypoint, status), count in depth.items():
        tasks.add_metric([entrypoint, status], count)
    for entrypoint, seconds in oldest.items():
        waiting.add_metric([entrypoint], seconds)
    return [tasks, waiting]


def _plain(label: str) -> str:
    return label if _PLAIN_LABEL.fullmatch(label) else OTHER


def exposition(directory: str | None, database: list[Metric]) -> bytes:
    """The text format of one scrape (reads files in multiprocess mode: run it off the loop)."""
    return generate_latest(_Together(counted_by_processes(directory), _Fixed(database)))


# -- /metrics on the public port --------------------------------------------------------------


def bearer_matches(authorization: str | None, token: str) -> bool:
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def metrics_endpoint(request: Request) -> Response:
    runtime = cast(Runtime, request.app.state.runtime)
    token = runtime.settings.metrics_token
    if token is None:
        return PlainTextResponse("Not Found", status_code=404)
    if not bearer_matches(request.headers.get("authorization"), token):
        return PlainTextResponse(
            "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        counts: StatusCounts | None = await read_status_counts_with(
            runtime.engine, timeout_seconds=DATABASE_TIMEOUT_SECONDS
        )
    except Exception as error:  # the rest is served all the same
        log.warning("metrics: the database's counts could not be read: %r", error)
        counts = None
    body = await asyncio.to_thread(exposition, this_process_directory(), database_metrics(counts))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# -- METRICS_PORT, and the processes' shared directory ---------------------------------------


class _DatabaseAtScrape:
    """The database's counts, read over a connection of its own at each scrape (the
    METRICS_PORT server runs in a thread, away from the app's event loop and engine)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def collect(self) -> Iterable[Metric]:
        try:
            counts: StatusCounts | None = asyncio.run(
                read_status_counts_at(self._dsn, timeout_seconds=DATABASE_TIMEOUT_SECONDS)
            )
        except Exception as error:  # the rest is served all the same
            log.warning("metrics: the database's counts could not be read: %r", error)
            counts = None
        return database_metrics(counts)


@contextmanager
def serving_metrics_port(
    settings: Settings, database_url: str, *, directory: str | None
) -> Iterator[None]:
    """Serves /metrics on METRICS_HOST:METRICS_PORT, if set, while in the block: the values
    kept in `directory` by every process (None: this process's own)."""
    if settings.metrics_port is None:
        yield
        return
    host, port = settings.metrics_host, settings.metrics_port
    scrape = _Together(
        counted_by_processes(directory), _DatabaseAtScrape(asyncpg_dsn(database_url))
    )
    try:
        server, thread = start_http_server(port, addr=host, registry=scrape)
    except OSError as error:
        raise MetricsPortUnusable(
            f"METRICS_PORT={port}: cannot listen on {host}:{port} ({error.strerror or error})"
        ) from None
    log.info("serving metrics on http://%s:%d/metrics", host, port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def metrics_shared_by_processes() -> Iterator[str]:
    """A new PROMETHEUS_MULTIPROC_DIR for the processes started in the block (they inherit
    the environment), removed after: values from an earlier run never add to this one's."""
    directory = tempfile.mkdtemp(prefix="sselfie-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    os.environ[MULTIPROCESS_DIR_VARIABLE] = directory
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIR_VARIABLE, None)
        else:
            os.environ[MULTIPROCESS_DIR_VARIABLE] = previous
        shutil.rmtree(directory, ignore_errors=True)
