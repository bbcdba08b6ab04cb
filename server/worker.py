"""The worker: runs queued tasks (PgQueuer) and proposes the periodic ones.

Tasks: `store_outputs` (a generation's outputs into storage, queued by the domain in the
transaction that records them), `make_renditions` (their gallery sizes, queued in the
transaction that records the stored images), `delete_training_upload` (an ended training's
selfie archive on the provider), `delete_stored_images` (a deleted generation's files),
`delete_account` (a deleted account's upstream and stored leftovers), `reconcile` (one
round per period across all workers), `forget_webhooks` and `collect_orphans` (hourly).

Periodic tasks: every worker proposes the next period's task, keyed by the period's
number; the queue's unique dedupe key admits one per period, whichever worker proposed
it first, and it runs at the period's start on whichever worker is free. A worker that
dies mid-task stops beating its heart; another re-runs the task after
TASK_HEARTBEAT_SECONDS.
"""

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from pgqueuer.executors import DatabaseRetryEntrypointExecutor
from pgqueuer.models import Job
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries

from domain.generation.service import GenerationService
from domain.privacy.account_deletion import AccountDeletionService
from domain.privacy.orphans import OrphanCollector
from domain.training.service import TrainingService
from persistence.task_queue import (
    COLLECT_ORPHANS,
    DELETE_ACCOUNT,
    DELETE_STORED_IMAGES,
    DELETE_TRAINING_UPLOAD,
    FORGET_WEBHOOKS,
    MAKE_RENDITIONS,
    RECONCILE,
    STORE_OUTPUTS,
    enqueue_once,
    forget_task_log_before,
)
from server.task_context import in_task_context
from settings import Settings

log = logging.getLogger(__name__)

RECONCILE_BATCH = 50
WEBHOOK_IDS_KEPT_FOR = timedelta(days=2)
TASK_LOG_KEPT_FOR = timedelta(days=2)
HOUR_SECONDS = 3600.0
WORKER_APPLICATION_NAME = "sselfie-worker"
# A download is retried 1 s, 2 s, 4 s ... then every 5 minutes, for over an hour: longer
# than Replicate keeps a prediction's outputs. An exhausted task is held as `failed`.
DOWNLOAD_RETRIES = functools.partial(
    DatabaseRetryEntrypointExecutor,
    max_attempts=20,
    initial_delay=timedelta(seconds=1),
    max_delay=timedelta(minutes=5),
)
# Renditions are retried briefly (the store coming back): one still missing is made on
# its first request anyway, so an exhausted task is dropped, never its generation's worry.
RENDITION_RETRIES = functools.partial(
    DatabaseRetryEntrypointExecutor,
    max_attempts=5,
    initial_delay=timedelta(seconds=1),
    max_delay=timedelta(seconds=30),
)
# Deletions are retried until done: 1 s, 2 s, 4 s ... then every 10 minutes, for about
# a week; one held after that is queued again by `collect_orphans`.
DELETION_RETRIES = functools.partial(
    DatabaseRetryEntrypointExecutor,
    max_attempts=1000,
    initial_delay=timedelta(seconds=1),
    max_delay=timedelta(minutes=10),
)
# An account deletion nothing has moved for this long is queued again.
DELETION_IDLE_SECONDS = 3600.0
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Services:
    training: TrainingService
    generation: GenerationService
    account_deletion: AccountDeletionService
    orphans: OrphanCollector


@dataclass(frozen=True)
class Periodic:
    """A task proposed once per `seconds`, at the period's start."""

    entrypoint: str
    seconds: float


class Worker:
    """`await worker.run()` until `worker.stop()`; reconnects when its connection is lost."""

    def __init__(self, dsn: str, services: Services, settings: Settings) -> None:
        self._dsn = dsn
        self._services = services
        self._settings = settings
        self._stopping = asyncio.Event()
        self._manager: QueueManager | None = None
        self._connection: asyncpg.Connection | None = None  # while the manager runs on it
        self._first_attempt_ended = asyncio.Event()

    @property
    def is_running(self) -> bool:
        """Whether tasks are taken now: false before start, while reconnecting after a
        failure (a lost connection included), and once stopping."""
        connection = self._connection
        running = connection is not None and not connection.is_closed()
        return running and not self._stopping.is_set()

    async def started(self) -> None:
        """Returns once the first start either runs or failed (and is being retried)."""
        await self._first_attempt_ended.wait()

    def stop(self) -> None:
        """Takes no new task; the running ones finish (run() returns after them)."""
        self._stopping.set()
        self._first_attempt_ended.set()
        if self._manager is not None:
            self._manager.shutdown.set()

    async def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._run_once()
                failures = 0
            except Exception:
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                self._first_attempt_ended.set()
                log.exception("the task worker stopped; starting again in %.1fs", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run_once(self) -> None:
        connection = await asyncpg.connect(
            self._dsn, server_settings={"application_name": WORKER_APPLICATION_NAME}
        )
        try:
            queries = Queries.from_asyncpg_connection(connection)
            manager = self._manager = build_manager(queries, self._services, self._settings)
            if self._stopping.is_set():
                return
            heartbeat = timedelta(seconds=self._settings.task_heartbeat_seconds)
            proposer = asyncio.create_task(self._propose_forever(queries))
            # Proposing fails only with the connection: stop, and start again on a new one.
            proposer.add_done_callback(lambda _: manager.shutdown.set())
            self._connection = connection
            self._first_attempt_ended.set()
            try:
                await manager.run(dequeue_timeout=heartbeat, heartbeat_timeout=heartbeat)
            finally:
                self._connection = None
                proposer.cancel()
                await asyncio.gather(proposer, return_exceptions=True)
            if not proposer.cancelled() and (error := proposer.exception()) is not None:
                raise error
        finally:
            self._manager = None
            await connection.close(timeout=5)

    async def _propose_forever(self, queries: Queries) -> None:
        interval = self._settings.reconcile_interval_seconds
        schedule = (
            Periodic(RECONCILE, interval),
            Periodic(FORGET_WEBHOOKS, HOUR_SECONDS),
            Periodic(COLLECT_ORPHANS, self._settings.orphan_collect_interval_seconds),
        )
        proposed: dict[str, int] = {}
        while not self._stopping.is_set():
            for periodic in schedule:
                last = proposed.get(periodic.entrypoint)
                if last is None or time.time() >= last * periodic.seconds:
                    proposed[periodic.entrypoint] = await propose_next(
                        queries, periodic, after=-1 if last is None else last
                    )
            until_next = (proposed[RECONCILE] * interval) - time.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), max(until_next, 0.0))


async def propose_next(queries: Queries, periodic: Periodic, *, after: int) -> int:
    """Queues `periodic` for the start of the next period (numbered from the epoch), unless
    any worker already did; that period's number. Never the period `after` again."""
    now = time.time()
    period = max(math.floor(now / periodic.seconds) + 1, after + 1)
    await enqueue_once(
        queries,
        periodic.entrypoint,
        str(period).encode(),
        f"{periodic.entrypoint}:{period}",
        after=timedelta(seconds=max(period * periodic.seconds - now, 0.0)),
    )
    return period


def build_manager(queries: Queries, services: Services, settings: Settings) -> QueueManager:
    manager = QueueManager(queries)
    _handle(manager, STORE_OUTPUTS, _store_outputs(services), retries=DOWNLOAD_RETRIES, hold=True)
    _handle(manager, MAKE_RENDITIONS, _make_renditions(services), retries=RENDITION_RETRIES)
    for name, handler in _deletions(services).items():
        _handle(manager, name, handler, retries=DELETION_RETRIES, hold=True)
    _handle(manager, RECONCILE, _reconcile(services, settings))
    _handle(manager, FORGET_WEBHOOKS, _forget_webhooks(services, queries))
    _handle(manager, COLLECT_ORPHANS, _collect_orphans(services, settings))
    return manager


def _handle(
    manager: QueueManager,
    name: str,
    handler: Callable[[Job], Awaitable[None]],
    *,
    retries: Callable[..., DatabaseRetryEntrypointExecutor] | None = None,
    hold: bool = False,
) -> None:
    manager.entrypoint(
        name,
        # Held, not dropped, once out of attempts: an operator sees it (`pgq failed`).
        on_failure="hold" if hold else "delete",
        executor_factory=retries,
        # Reconciling runs every few seconds: its rounds are logged at DEBUG.
    )(in_task_context(name, handler, quiet=name == RECONCILE))


def _text(job: Job) -> str:
    return (job.payload or b"").decode()


def _store_outputs(services: Services) -> Callable[[Job], Awaitable[None]]:
    async def store_outputs(job: Job) -> None:
        # Raises while the outputs cannot be fetched yet: the queue retries with backoff.
        await services.generation.store_outputs(_text(job))

    return store_outputs


def _make_renditions(services: Services) -> Callable[[Job], Awaitable[None]]:
    async def make_renditions(job: Job) -> None:
        # Raises while the store is unreachable: retried a few times, then left to requests.
        await services.generation.make_renditions(_text(job))

    return make_renditions


def _deletions(services: Services) -> dict[str, Callable[[Job], Awaitable[None]]]:
    """Each raises while its step cannot finish (provider or store down, a refusal): the
    queue retries it with backoff."""

    async def delete_training_upload(job: Job) -> None:
        await services.training.delete_upload(_text(job))

    async def delete_stored_images(job: Job) -> None:
        await services.generation.delete_stored_images(_text(job))

    async def delete_account(job: Job) -> None:
        await services.account_deletion.run(_text(job))

    return {
        DELETE_TRAINING_UPLOAD: delete_training_upload,
        DELETE_STORED_IMAGES: delete_stored_images,
        DELETE_ACCOUNT: delete_account,
    }


def _collect_orphans(services: Services, settings: Settings) -> Callable[[Job], Awaitable[None]]:
    async def collect_orphans(job: Job) -> None:
        await services.account_deletion.requeue_unfinished(idle_seconds=DELETION_IDLE_SECONDS)
        await services.generation.forget_deleted_generations()
        await services.orphans.collect(
            grace=timedelta(seconds=settings.orphan_grace_seconds),
            include_provider=settings.replicate_api_token is not None,
        )

    return collect_orphans


def _reconcile(services: Services, settings: Settings) -> Callable[[Job], Awaitable[None]]:
    async def reconcile(job: Job) -> None:
        await reconcile_round(services, settings)

    return reconcile


def _forget_webhooks(services: Services, queries: Queries) -> Callable[[Job], Awaitable[None]]:
    async def forget_webhooks(job: Job) -> None:
        now = datetime.now(UTC)
        await services.training.forget_webhooks_before(now - WEBHOOK_IDS_KEPT_FOR)
        await forget_task_log_before(queries, now - TASK_LOG_KEPT_FOR)

    return forget_webhooks


async def reconcile_round(services: Services, settings: Settings) -> None:
    """Polls Replicate for every active job webhooks have not reported on lately, batch
    after batch while batches come back full.

    Without PUBLIC_BASE_URL no webhook ever comes, so every active job is polled.
    Leases keep workers from polling the same job at once, even if two rounds overlap.
    """
    interval = settings.reconcile_interval_seconds
    silence = settings.webhook_silence_seconds if settings.public_base_url else 0.0
    lease = max(30.0, 3 * interval)
    kinds: tuple[tuple[str, TrainingService | GenerationService], ...] = (
        ("trainings", services.training),
        ("generations", services.generation),
    )
    while True:
        checked = 0
        for name, service in kinds:
            # Each kind on its own: one failing never holds back the other's round.
            try:
                checked = max(
                    checked,
                    await service.reconcile(
                        silent_for_seconds=silence, lease_seconds=lease, batch=RECONCILE_BATCH
                    ),
                )
            except Exception:
                log.exception("reconciling %s failed; trying again next round", name)
        if checked < RECONCILE_BATCH:  # a full batch means more may be waiting
            return
