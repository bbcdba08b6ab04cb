import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import TrainingInProgress
from domain.users.models import ModelStatus, UserModel
from persistence.repositories.arrays import text_array, uuid_array
from persistence.repositories.rows import RowRepository
from persistence.tables import UserModelRow, table_of

models = table_of(UserModelRow)


def _to_user_model(row: Any) -> UserModel:
    return UserModel(
        id=str(row.id),
        user_id=row.user_id,
        replicate_model_id=row.replicate_model_id,
        replicate_version_id=row.replicate_version_id,
        status=ModelStatus(row.status),
        trained_at=row.trained_at,
        created_at=row.created_at,
        input_names=row.input_names,
        unusable_reason=row.unusable_reason,
    )


class SqlUserModelRepository(RowRepository[UserModel]):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, _to_user_model)

    async def for_users(self, user_ids: Sequence[str]) -> list[UserModel]:
        return await self._all(select(models).where(models.c.user_id == any_(text_array(user_ids))))

    async def owned_by_ids(self, user_id: str, model_ids: Sequence[str]) -> list[UserModel]:
        return await self._all(
            select(models).where(
                models.c.id == any_(uuid_array(model_ids)), models.c.user_id == user_id
            )
        )

    async def for_user(self, user_id: str, *, lock: bool = False) -> UserModel | None:
        query = select(models).where(models.c.user_id == user_id)
        return await self._one(query.with_for_update() if lock else query)

    async def create(self, user_id: str, replicate_model_id: str) -> UserModel:
        try:
            result = await self._connection.execute(
                insert(models)
                .values(
                    user_id=user_id,
                    replicate_model_id=replicate_model_id,
                    status=ModelStatus.TRAINING.value,
                )
                .returning(models)
            )
        except IntegrityError as error:
            # Another request of this user's created it a moment ago: it is starting a training.
            raise TrainingInProgress.being_started() from error
        return _to_user_model(result.one())

    async def save(self, model: UserModel) -> UserModel:
        return await self._returned(
            update(models)
            .where(models.c.id == uuid.UUID(model.id))
            .values(
                status=model.status.value,
                replicate_version_id=model.replicate_version_id,
                trained_at=model.trained_at,
                input_names=model.input_names,
                unusable_reason=model.unusable_reason,
                updated_at=func.now(),
            )
            .returning(models)
        )
