"""Alembic, driven from code: upgrades run under an advisory lock so replicas can start together."""

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant both replicas agree on; "sselfie" as a number.
_MIGRATION_LOCK_KEY = 0x7373656C666965


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


async def is_at_head(engine: AsyncEngine) -> tuple[bool, str | None]:
    """Whether the database answers and is migrated to head; its revision."""
    current = await current_revision(engine)
    return current == head_revision(), current


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _run_locked(engine, lambda sync: command.upgrade(_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run_locked(engine, lambda sync: command.downgrade(_config(sync), revision))


async def _run_locked(engine: AsyncEngine, migrate: Callable[[Connection], None]) -> None:
    async with engine.connect() as connection:
        await connection.execute(
            text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
        )
        try:
            await connection.run_sync(migrate)
            await connection.commit()
        finally:
            await connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
            await connection.commit()
