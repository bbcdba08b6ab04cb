from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.notifications import SqlEventPublisher
from persistence.repositories.generations import SqlGenerationRepository
from persistence.repositories.images import SqlGeneratedImageRepository
from persistence.repositories.owners import SqlOwnerRepository
from persistence.repositories.training_jobs import SqlTrainingJobRepository
from persistence.repositories.user_models import SqlUserModelRepository
from persistence.repositories.users import SqlUserRepository
from persistence.repositories.webhook_deliveries import SqlWebhookDeliveryRepository


class SqlUnitOfWork:
    """One session and its transaction; repositories share it. Rolls back unless committed."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> Self:
        session = self._session = self._sessions()
        self.users = SqlUserRepository(session)
        self.user_models = SqlUserModelRepository(session)
        self.training_jobs = SqlTrainingJobRepository(session)
        self.owners = SqlOwnerRepository(session)
        self.webhook_deliveries = SqlWebhookDeliveryRepository(session)
        self.generations = SqlGenerationRepository(session)
        self.images = SqlGeneratedImageRepository(session)
        self.events = SqlEventPublisher(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._session.rollback()
        finally:
            await self._session.close()

    async def commit(self) -> None:
        await self._session.commit()
