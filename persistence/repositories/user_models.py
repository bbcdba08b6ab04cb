import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from domain.users.models import ModelStatus, UserModel
from persistence.tables import UserModelRow


def _to_user_model(row: UserModelRow) -> UserModel:
    return UserModel(
        id=str(row.id),
        user_id=row.user_id,
        replicate_model_id=row.replicate_model_id,
        replicate_version_id=row.replicate_version_id,
        status=ModelStatus(row.status),
        trained_at=row.trained_at,
        created_at=row.created_at,
    )


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class SqlUserModelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def for_users(self, user_ids: Sequence[str]) -> list[UserModel]:
        rows = await self._session.scalars(
            select(UserModelRow).where(col(UserModelRow.user_id).in_(user_ids))
        )
        return [_to_user_model(row) for row in rows]

    async def get_owned(self, user_id: str, model_id: str) -> UserModel | None:
        key = parse_uuid(model_id)
        if key is None:
            return None
        row = await self._session.scalar(
            select(UserModelRow).where(
                col(UserModelRow.id) == key, col(UserModelRow.user_id) == user_id
            )
        )
        return _to_user_model(row) if row else None
