from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.app import create_app
from settings import Environment, Settings
from tests.fake_replicate import FakeReplicate
from tests.integration.api import Api
from tests.integration.harness import make_settings, open_api
from tests.integration.studio import Studio, open_studio


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    return make_settings(database_url, data_dir)


@pytest.fixture
async def api(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Api]:
    assert settings.database_url
    async for opened in open_api(
        create_app(settings, settings.database_url, migrate_on_start=False)
    ):
        yield opened


@pytest.fixture
async def production_api(
    database_url: str, data_dir: Path, engine: AsyncEngine
) -> AsyncIterator[Api]:
    settings = make_settings(database_url, data_dir, env=Environment.PRODUCTION)
    async for opened in open_api(create_app(settings, database_url, migrate_on_start=False)):
        yield opened


@pytest.fixture
async def fake_replicate() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate() as fake:
        yield fake


@pytest.fixture
async def studio(
    database_url: str, data_dir: Path, engine: AsyncEngine, fake_replicate: FakeReplicate
) -> AsyncIterator["Studio"]:
    async with open_studio(database_url, data_dir, engine, fake_replicate) as opened:
        yield opened
