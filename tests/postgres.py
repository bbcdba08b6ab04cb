"""A real PostgreSQL for the tests: $TEST_DATABASE_URL, or an embedded server.

Each test run gets databases of its own, created here and dropped at the end.
"""

import uuid
from pathlib import Path
from typing import Any

import asyncpg
from pgserver.postgres_server import get_server
from sqlalchemy.engine import make_url


def start_server(root: Path) -> tuple[str, Any]:
    """A server URL (its maintenance database) and the handle that keeps it alive."""
    server: Any = get_server(root / "pg", cleanup_mode="stop")
    return server.get_uri("postgres"), server


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(server_url: str) -> str:
    name = f"sselfie_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    connection = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
