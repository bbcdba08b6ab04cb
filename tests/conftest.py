import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence import migrate
from persistence.database import create_engine
from persistence.tables import metadata
from tests import postgres
from tests.s3 import MotoS3, shared_moto


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    url, server = postgres.start_server(tmp_path_factory.mktemp("postgres"))
    with server:
        yield url


@pytest.fixture(scope="session")
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A database of this run's own, migrated to head."""
    url = await postgres.create_database(postgres_server_url)
    engine = create_engine(url, pool_size=1)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    yield url
    await postgres.drop_database(postgres_server_url, url)


TASK_QUEUE_TABLES = ["pgqueuer", "pgqueuer_log", "pgqueuer_statistics", "pgqueuer_schedules"]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The test's engine; every table, the task queue's included, is emptied after the test."""
    engine = create_engine(database_url, pool_size=2)
    yield engine
    tables = ", ".join([f'"{table.name}"' for table in metadata.sorted_tables] + TASK_QUEUE_TABLES)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    await engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="session")
def moto_s3() -> MotoS3:
    """moto's S3 server on loopback, one for the run."""
    return shared_moto()


@pytest.fixture
def bucket(moto_s3: MotoS3) -> str:
    """An empty bucket of the test's own."""
    return moto_s3.new_bucket()
