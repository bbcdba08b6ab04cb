import uuid
from collections.abc import Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.errors import TrainingInProgress
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
        input_names=row.input_names,
        unusable_reason=row.unusable_reason,
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

    async def for_user(self, user_id: str, *, lock: bool = False) -> UserModel | None:
        query = select(UserModelRow).where(col(UserModelRow.user_id) == user_id)
        if lock:
            query = query.with_for_update()
        row = await self._session.scalar(query.execution_options(populate_existing=True))
        return _to_user_model(row) if row else None

    async def create(self, user_id: str, replicate_model_id: str) -> UserModel:
        try:
            row = await self._session.scalar(
                insert(UserModelRow)
                .values(
                    user_id=user_id,
                    replicate_model_id=replicate_model_id,
                    status=ModelStatus.TRAINING.value,
                )
                .returning(UserModelRow)
            )
        except IntegrityError as error:
            # Another request of this user's created it a moment ago: it is starting a training.
            raise TrainingInProgress(
                "A training of yours is already being started. Follow it with `trainingProgress`."
            ) from error
        assert row is not None
        return _to_user_model(row)

    async def save(self, model: UserModel) -> UserModel:
        row = await self._session.scalar(
            update(UserModelRow)
            .where(col(UserModelRow.id) == uuid.UUID(model.id))
            .values(
                status=model.status.value,
                replicate_version_id=model.replicate_version_id,
                trained_at=model.trained_at,
                input_names=model.input_names,
                unusable_reason=model.unusable_reason,
                updated_at=func.now(),
            )
            .returning(UserModelRow)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return _to_user_model(row)
