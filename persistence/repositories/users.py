from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from domain.users.models import User
from persistence.tables import UserRow


def _to_user(row: UserRow) -> User:
    return User(id=row.id, subject=row.subject, created_at=row.created_at)


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_by_subject(self, subject: str) -> User | None:
        row = await self._session.scalar(select(UserRow).where(col(UserRow.subject) == subject))
        return _to_user(row) if row else None

    async def get(self, user_id: str) -> User | None:
        row = await self._session.scalar(select(UserRow).where(col(UserRow.id) == user_id))
        return _to_user(row) if row else None

    async def lock(self, user_id: str) -> None:
        await self._session.execute(
            select(col(UserRow.id)).where(col(UserRow.id) == user_id).with_for_update()
        )

    async def insert_if_absent(self, user_id: str, subject: str) -> None:
        await self._session.execute(
            insert(UserRow).values(id=user_id, subject=subject).on_conflict_do_nothing()
        )
