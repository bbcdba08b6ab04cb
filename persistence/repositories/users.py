from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.users.models import User
from persistence.repositories.rows import RowRepository
from persistence.tables import UserRow, table_of

users = table_of(UserRow)


def _to_user(row: Any) -> User:
    return User(id=row.id, subject=row.subject, created_at=row.created_at)


class SqlUserRepository(RowRepository[User]):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, _to_user)

    async def get_by_subject(self, subject: str) -> User | None:
        return await self._one(select(users).where(users.c.subject == subject))

    async def lock(self, user_id: str) -> bool:
        locked = await self._connection.scalar(
            select(users.c.id).where(users.c.id == user_id).with_for_update()
        )
        return locked is not None

    async def insert_if_absent(self, user_id: str, subject: str) -> None:
        await self._connection.execute(
            insert(users).values(id=user_id, subject=subject).on_conflict_do_nothing()
        )
