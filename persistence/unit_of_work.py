from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.connection_share import current_share
from persistence.notifications import SqlEventPublisher
from persistence.repositories.accounts import SqlAccountRepository
from persistence.repositories.generations import SqlGenerationRepository
from persistence.repositories.images import SqlGeneratedImageRepository
from persistence.repositories.owners import SqlOwnerRepository
from persistence.repositories.training_jobs import SqlTrainingJobRepository
from persistence.repositories.user_models import SqlUserModelRepository
from persistence.repositories.users import SqlUserRepository
from persistence.repositories.webhook_deliveries import SqlWebhookDeliveryRepository
from persistence.task_queue import SqlTaskQueue


class SqlUnitOfWork:
    """One connection and its transaction, shared by the repositories (Core statements,
    no ORM session: rows become domain objects in the repositories). Rolls back unless
    committed. Within a request, the connection is one of the request's share."""

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            share = current_share()
            if share is not None:
                await stack.enter_async_context(share.slot())
            connection = self._connection = await self._engine.connect()
            stack.push_async_callback(connection.close)
            if self._read_only:
                # Reads need no transaction: skipping BEGIN and ROLLBACK saves two round trips.
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            self._release = stack.pop_all()
        self.users = SqlUserRepository(connection)
        self.user_models = SqlUserModelRepository(connection)
        self.training_jobs = SqlTrainingJobRepository(connection)
        self.owners = SqlOwnerRepository(connection)
        self.webhook_deliveries = SqlWebhookDeliveryRepository(connection)
        self.generations = SqlGenerationRepository(connection)
        self.images = SqlGeneratedImageRepository(connection)
        self.accounts = SqlAccountRepository(connection)
        self.events = SqlEventPublisher(connection)
        self.tasks = SqlTaskQueue(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._connection.rollback()
        finally:
            await self._release.aclose()

    async def commit(self) -> None:
        await self._connection.commit()
