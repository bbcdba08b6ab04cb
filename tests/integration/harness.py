"""Building the application for a test: settings and an in-process client."""

from collections.abc import AsyncGenerator
from pathlib import Path

import httpx
from starlette.applications import Starlette

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
        "auth_jwt_issuer": None,
        "auth_jwt_audience": None,
        # The fake Replicate serves its outputs on loopback, which only an exact entry allows.
        "replicate_output_hosts_text": "127.0.0.1,localhost",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


async def open_api(app: Starlette) -> AsyncGenerator[Api]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sselfie.test") as client:
            yield Api(client)
