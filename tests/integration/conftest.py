from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from server.app import create_app
from settings import Environment, Settings
from tests.integration.api import TEST_SECRET, Api


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "env": Environment.DEVELOPMENT,
        "auth_jwt_secret": TEST_SECRET,
        "oidc_issuer": None,
        "oidc_audience": None,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    return make_settings(database_url, data_dir)


async def open_api(app: Starlette) -> AsyncGenerator[Api]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sselfie.test") as client:
            yield Api(client)


@pytest.fixture
async def api(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Api]:
    assert settings.database_url
    async for opened in open_api(
        create_app(settings, settings.database_url, migrate_on_start=False)
    ):
        yield opened
