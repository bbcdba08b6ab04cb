import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence import migrate
from persistence.database import asyncpg_dsn, create_engine
from server.app import create_app
from tests import postgres
from tests.integration.harness import make_settings, open_api


@pytest.fixture
async def empty_database(postgres_server_url: str) -> AsyncIterator[AsyncEngine]:
    url = await postgres.create_database(postgres_server_url)
    engine = create_engine(url, pool_size=4)
    yield engine
    await engine.dispose()
    await postgres.drop_database(postgres_server_url, url)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        return {row[0] for row in rows}


async def test_migrations_upgrade_an_empty_database_to_head_and_down_again(
    empty_database: AsyncEngine,
) -> None:
    assert await migrate.current_revision(empty_database) is None

    await migrate.upgrade(empty_database)
    upgraded = await _tables(empty_database)
    at_head = await migrate.current_revision(empty_database)
    await migrate.downgrade(empty_database, "base")

    assert {"users", "user_models", "pgqueuer", "pgqueuer_log"} <= upgraded
    assert at_head == migrate.head_revision()
    assert await migrate.current_revision(empty_database) is None
    assert await _tables(empty_database) == {"alembic_version"}
    assert await _types(empty_database) == set()


async def _types(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT typname FROM pg_type JOIN pg_namespace n ON n.oid = typnamespace"
                " WHERE nspname = 'public' AND typtype = 'e'"
            )
        )
        return {row[0] for row in rows}


def _url(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def test_the_task_queue_tables_are_what_the_pinned_pgqueuer_declares(
    empty_database: AsyncEngine,
) -> None:
    """PgQueuer plans no change after our migrations: a PgQueuer bump that needs one
    fails here until a revision brings it."""
    await migrate.upgrade(empty_database)
    await migrate.downgrade(empty_database, "0005")
    await migrate.upgrade(empty_database)
    connection = await asyncpg.connect(asyncpg_dsn(_url(empty_database)))
    try:
        queries = Queries.from_asyncpg_connection(connection)
        plan = await queries.plan_upgrade()
        await QueueManager(queries).verify_structure()
    finally:
        await connection.close()

    assert plan.statements == ()


async def test_replicas_migrating_together_do_not_collide(empty_database: AsyncEngine) -> None:
    await asyncio.gather(*(migrate.upgrade(empty_database) for _ in range(4)))

    assert await migrate.current_revision(empty_database) == migrate.head_revision()


async def test_the_tables_match_what_the_code_declares(database_url: str) -> None:
    """Autogenerate finds nothing to do: the migrations and persistence/tables.py agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from persistence.tables import metadata

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "include_name": _not_the_task_queue}
                    ),
                    metadata,
                )
            )
    finally:
        await engine.dispose()
    assert differences == []


def _not_the_task_queue(name: str | None, type_: str, parent_names: object) -> bool:
    """PgQueuer's tables come from its own frozen SQL (0006), not from persistence/tables.py."""
    return not (type_ == "table" and (name or "").startswith("pgqueuer"))


async def test_readiness_is_refused_while_the_database_is_not_at_head(
    empty_database: AsyncEngine, data_dir: Path
) -> None:
    await migrate.upgrade(empty_database)
    url = empty_database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    app = create_app(make_settings(url, data_dir), url, migrate_on_start=False)
    async for api in open_api(app):
        ready = await api.client.get("/readyz")
        # As if another release had moved the schema elsewhere.
        async with empty_database.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0002'"))
        behind = await api.client.get("/readyz")

    assert ready.status_code == 200
    assert behind.status_code == 503
    assert "0002" in behind.json()["reason"]
