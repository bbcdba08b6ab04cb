"""The services on fakes: no PostgreSQL, no HTTP."""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from domain.events import EventHub
from domain.generation.service import GenerationConfig, GenerationService
from domain.generation.styles import StyleCatalogue
from domain.training.service import TrainingConfig, TrainingService
from domain.webhook_links import WebhookLinks
from tests.unit.fakes import (
    FakeDatabase,
    FakeImageStorage,
    FakeOutputFetcher,
    FakeReplicate,
    FakeSelfieProcessor,
    FakeUnitOfWorkFactory,
)

WEBHOOKS = WebhookLinks("https://studio.test/webhooks/replicate", b"webhook key")


async def run_tasks(db: FakeDatabase, service: GenerationService) -> list[str]:
    """Runs the queued tasks once, as a worker would; returns their generation ids."""
    taken = db.take_tasks()
    for generation_id in taken:
        await service.store_outputs(generation_id)
    return taken


async def reconcile(service: TrainingService | GenerationService) -> int:
    """One reconciler round that takes every unleased job, however recently heard of."""
    return await service.reconcile(silent_for_seconds=0.0, lease_seconds=60.0, batch=10)


@pytest.fixture
def hub() -> EventHub:
    return EventHub()


@pytest.fixture
def db(hub: EventHub) -> FakeDatabase:
    return FakeDatabase(hub)


@pytest.fixture
def uow(db: FakeDatabase) -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory(db)


@pytest.fixture
def replicate() -> FakeReplicate:
    return FakeReplicate()


TrainingFactory = Callable[..., TrainingService]
GenerationFactory = Callable[..., GenerationService]


@pytest.fixture
def make_training(
    uow: FakeUnitOfWorkFactory, replicate: FakeReplicate, hub: EventHub
) -> TrainingFactory:
    """A TrainingService on the fakes, its config changed as given."""

    def make(**changes: Any) -> TrainingService:
        config = replace(TrainingConfig(owners=("studio",), webhooks=WEBHOOKS), **changes)
        return TrainingService(uow, replicate, hub, config, FakeSelfieProcessor())

    return make


@pytest.fixture
def training(make_training: TrainingFactory) -> TrainingService:
    return make_training()


@pytest.fixture
def storage() -> FakeImageStorage:
    return FakeImageStorage()


@pytest.fixture
def fetcher() -> FakeOutputFetcher:
    return FakeOutputFetcher()


@pytest.fixture
def make_generation(
    uow: FakeUnitOfWorkFactory,
    replicate: FakeReplicate,
    hub: EventHub,
    storage: FakeImageStorage,
    fetcher: FakeOutputFetcher,
) -> GenerationFactory:
    """A GenerationService on the fakes, its config changed as given."""
    styles = StyleCatalogue.load()

    def make(**changes: Any) -> GenerationService:
        config = replace(GenerationConfig(webhooks=WEBHOOKS), **changes)
        return GenerationService(uow, replicate, hub, styles, storage, fetcher, config)

    return make


@pytest.fixture
def generation(make_generation: GenerationFactory) -> GenerationService:
    return make_generation()
