"""The composition root: every long-lived part of a running server, built and closed together."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.users.service import UserService
from identity.setup import build_token_verifier
from persistence import migrate
from persistence.database import create_engine, create_session_factory
from persistence.unit_of_work import SqlUnitOfWork
from resolvers.context import Services
from server.authentication import Authenticator
from settings import Settings

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    services: Services
    authenticator: Authenticator


@asynccontextmanager
async def open_runtime(
    settings: Settings, database_url: str, *, migrate_on_start: bool = True
) -> AsyncIterator[Runtime]:
    engine = create_engine(database_url)
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            if migrate_on_start:
                await migrate.upgrade(engine)
            sessions = create_session_factory(engine)
            users = UserService(lambda: SqlUnitOfWork(sessions))
            yield Runtime(
                settings=settings,
                engine=engine,
                services=Services(users=users),
                authenticator=Authenticator(build_token_verifier(settings, http), users),
            )
    finally:
        await engine.dispose()
