"""The composition root: every long-lived part of a running server, built and closed together."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.allowances import Allowances
from domain.events import EventHub
from domain.generation.service import GenerationConfig, GenerationService
from domain.generation.styles import StyleCatalogue
from domain.images import ImageStorage, ImageUrlSigner, StorageUnavailable
from domain.privacy.account_deletion import AccountDeletionService
from domain.privacy.orphans import OrphanCollector
from domain.training.service import TrainingConfig, TrainingService
from domain.users.service import UserService
from domain.webhook_links import KEY_NAME as WEBHOOK_URL_KEY_NAME
from domain.webhook_links import WebhookLinks
from identity.setup import build_token_verifier
from image_processing import ProcessSelfieProcessor
from image_storage import LocalImageStorage, S3Connection, S3ImageStorage, open_output_fetcher
from persistence import migrate
from persistence.database import asyncpg_dsn, create_engine
from persistence.notifications import PostgresListener
from persistence.persisted_queries import SqlPersistedQueryStore
from persistence.secrets import shared_secret
from persistence.unit_of_work import SqlUnitOfWork
from replicate_client import ReplicateClient, WebhookSecret
from request_context.services import Services
from server.authentication import Authenticator
from server.metrics_http import MeteredAsyncClient, UpstreamEndpoints
from server.persisted_queries import PersistedQueries
from server.worker import Services as WorkerServices
from server.worker import Worker
from settings import Settings

if TYPE_CHECKING:  # the entry points import it (and the SDK) when they set tracing up
    from server.tracing import Tracing

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
HTTP_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# How long running tasks may take to finish when the worker stops; then they are cancelled
# (and re-run elsewhere: a cancelled task stays picked until its heartbeat is stale).
WORKER_STOP_SECONDS = 20.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    services: Services
    authenticator: Authenticator
    webhook_secret: WebhookSecret
    webhook_links: WebhookLinks
    persisted_queries: PersistedQueries
    orphans: OrphanCollector
    # What readiness checks besides the database: the LISTEN connection, and the task
    # worker where this process runs one.
    listener: PostgresListener
    worker: Worker | None


def _allowances(settings: Settings) -> Allowances:
    return Allowances(
        max_active_generations=settings.max_active_generations,
        daily_generations=settings.daily_generation_limit,
        daily_trainings=settings.daily_training_limit,
    )


def _training_config(settings: Settings, webhooks: WebhookLinks) -> TrainingConfig:
    return TrainingConfig(
        owners=settings.replicate_owners,
        models_per_owner=settings.replicate_models_per_owner,
        webhooks=webhooks,
        allowances=_allowances(settings),
    )


class StorageUnusable(Exception):
    """STORAGE_URL names a bucket this server cannot write to; the message says why."""


def image_storage(settings: Settings) -> ImageStorage:
    """Files under the data directory, or the bucket STORAGE_URL names."""
    bucket = settings.image_bucket
    if bucket is None:
        return LocalImageStorage(settings.data_dir / "images")
    return S3ImageStorage(
        S3Connection(
            bucket=bucket.bucket,
            prefix=bucket.prefix,
            endpoint_url=settings.aws_endpoint_url,
            public_endpoint_url=settings.storage_public_endpoint_url,
            region=settings.aws_region,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
            session_token=settings.aws_session_token,
        )
    )


async def check_storage(settings: Settings, storage: ImageStorage) -> None:
    """StorageUnusable, naming STORAGE_URL, unless a bucket takes writes (before serving)."""
    if not isinstance(storage, S3ImageStorage):
        return
    try:
        await storage.check()
    except StorageUnavailable as error:
        raise StorageUnusable(
            f"STORAGE_URL={settings.storage_url} (endpoint "
            f"{settings.aws_endpoint_url or 'AWS'}): {error}"
        ) from None


def _generation_config(settings: Settings, webhooks: WebhookLinks) -> GenerationConfig:
    return GenerationConfig(webhooks=webhooks, allowances=_allowances(settings))


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    database_url: str,
    *,
    migrate_on_start: bool = True,
    run_worker: bool = True,
    tracing: "Tracing | None" = None,
) -> AsyncIterator[Runtime]:
    """`tracing`, if given, traces the engine and the Replicate client, and is closed
    (its spans exported) with the runtime."""
    engine = create_engine(database_url)
    if tracing is not None:
        tracing.trace_database(engine)
    events = EventHub()
    listener = PostgresListener(asyncpg_dsn(database_url), events)
    selfie_processor = ProcessSelfieProcessor(settings.image_workers)
    try:
        async with (
            # Counts each request to Replicate's API (sselfie_upstream_requests).
            MeteredAsyncClient(
                UpstreamEndpoints(settings.replicate_api_base_url),
                timeout=HTTP_TIMEOUT,
                limits=HTTP_LIMITS,
            ) as http,
            open_output_fetcher(
                settings.replicate_output_hosts, http_timeout=HTTP_TIMEOUT, limits=HTTP_LIMITS
            ) as output_fetcher,
        ):
            if tracing is not None:
                tracing.trace_http_client(http)
            storage = image_storage(settings)
            await check_storage(settings, storage)
            if migrate_on_start:
                await migrate.upgrade(engine)
            await listener.start()

            def uow(*, read_only: bool = False) -> SqlUnitOfWork:
                return SqlUnitOfWork(engine, read_only=read_only)

            replicate = ReplicateClient(
                http, base_url=settings.replicate_api_base_url, token=settings.replicate_api_token
            )
            users = UserService(uow)
            webhook_links = WebhookLinks(
                settings.replicate_webhook_url, await shared_secret(engine, WEBHOOK_URL_KEY_NAME)
            )
            training = TrainingService(
                uow, replicate, events, _training_config(settings, webhook_links), selfie_processor
            )
            generation = GenerationService(
                uow,
                replicate,
                events,
                StyleCatalogue.load(),
                storage,
                output_fetcher,
                _generation_config(settings, webhook_links),
            )
            image_urls = ImageUrlSigner(await shared_secret(engine, "image_urls"))
            account_deletion = AccountDeletionService(uow, replicate, storage)
            orphans = OrphanCollector(uow, replicate, storage)
            worker = Worker(
                asyncpg_dsn(database_url),
                WorkerServices(training, generation, account_deletion, orphans),
                settings,
            )
            working = asyncio.create_task(worker.run()) if run_worker else None
            try:
                if working is not None:
                    await worker.started()
                yield Runtime(
                    settings=settings,
                    engine=engine,
                    services=Services(
                        users=users,
                        training=training,
                        generation=generation,
                        account_deletion=account_deletion,
                        image_urls=image_urls,
                    ),
                    orphans=orphans,
                    authenticator=Authenticator(build_token_verifier(settings, http), users),
                    webhook_secret=WebhookSecret(replicate, settings.replicate_webhook_secret),
                    webhook_links=webhook_links,
                    persisted_queries=PersistedQueries(SqlPersistedQueryStore(engine)),
                    listener=listener,
                    worker=worker if run_worker else None,
                )
            finally:
                if working is not None:
                    await stop_worker(worker, working)
    finally:
        await selfie_processor.close()
        await listener.stop()
        await engine.dispose()
        if tracing is not None:
            tracing.close()


async def stop_worker(worker: Worker, working: "asyncio.Task[None]") -> None:
    """Stops taking tasks and waits (a bounded while) for the running ones."""
    worker.stop()
    try:
        await asyncio.wait_for(asyncio.shield(working), WORKER_STOP_SECONDS)
    except TimeoutError:
        log.warning("tasks still running after %.0fs: cancelled", WORKER_STOP_SECONDS)
        working.cancel()
        await asyncio.gather(working, return_exceptions=True)
