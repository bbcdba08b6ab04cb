"""The ports the domain speaks through; persistence and adapters implement them."""

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, Self

from domain.users.models import User, UserModel


class UserRepository(Protocol):
    async def get_by_subject(self, subject: str) -> User | None: ...

    async def get(self, user_id: str) -> User | None: ...

    async def insert_if_absent(self, user_id: str, subject: str) -> None:
        """Insert unless the id or the subject is taken; never raises for either."""
        ...


class UserModelRepository(Protocol):
    async def for_users(self, user_ids: Sequence[str]) -> list[UserModel]: ...

    async def get_owned(self, user_id: str, model_id: str) -> UserModel | None: ...


class UnitOfWork(Protocol):
    """One transaction: commit explicitly, anything else rolls back on exit."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def user_models(self) -> UserModelRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
