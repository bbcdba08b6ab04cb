"""Secrets every replica shares, made once and kept in the database."""

import secrets

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.tables import ServerSecretRow, table_of

server_secrets = table_of(ServerSecretRow)


async def shared_secret(engine: AsyncEngine, name: str) -> bytes:
    async with engine.begin() as connection:
        await connection.execute(
            insert(server_secrets)
            .values(name=name, value=secrets.token_bytes(32))
            .on_conflict_do_nothing()
        )
        value = await connection.scalar(
            select(server_secrets.c.value).where(server_secrets.c.name == name)
        )
    if not isinstance(value, bytes):
        raise RuntimeError(f"the server secret {name!r} could not be read back")
    return value
