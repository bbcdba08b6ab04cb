"""Deleting a user's rows, and the record of what their deletion still has to remove."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import any_, delete, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.privacy.models import AccountDeletion, DeletionStep, UsageKind
from persistence.repositories.rows import RowRepository, parse_uuid
from persistence.tables import (
    AccountDeletionRow,
    AnonymousUsageRow,
    GenerationRow,
    TrainingJobRow,
    UserModelRow,
    UserRow,
    table_of,
)

deletions = table_of(AccountDeletionRow)
usage = table_of(AnonymousUsageRow)
generations = table_of(GenerationRow)
training_jobs = table_of(TrainingJobRow)
user_models = table_of(UserModelRow)
users = table_of(UserRow)


def _to_deletion(row: Any) -> AccountDeletion:
    return AccountDeletion(
        id=str(row.id),
        former_user_id=row.former_user_id,
        replicate_model_id=row.replicate_model_id,
        training_ids=tuple(row.training_ids),
        prediction_ids=tuple(row.prediction_ids),
        file_ids=tuple(row.file_ids),
        steps_done=frozenset(DeletionStep(step) for step in row.steps_done),
        created_at=row.created_at,
    )


async def count_anonymously(
    connection: AsyncConnection, table: sa.Table, kind: UsageKind, condition: sa.ColumnElement[bool]
) -> None:
    """Adds the rows of `table` matching `condition` to the anonymous usage of their day."""
    day = func.date(func.timezone("UTC", table.c.created_at))
    counted = (
        select(day.label("day"), literal(kind.value).label("kind"), func.count().label("count"))
        .where(condition)
        .group_by(day)
    )
    statement = upsert(usage).from_select(["day", "kind", "count"], counted)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[usage.c.day, usage.c.kind],
            set_={"count": usage.c.count + statement.excluded.count},
        )
    )


class SqlAccountRepository(RowRepository[AccountDeletion]):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, _to_deletion)

    async def erase_user(self, user_id: str) -> None:
        run = self._connection.execute
        await count_anonymously(
            self._connection, generations, UsageKind.GENERATION, generations.c.user_id == user_id
        )
        await count_anonymously(
            self._connection,
            training_jobs,
            UsageKind.TRAINING,
            training_jobs.c.user_id == user_id,
        )
        # Images go with their generations, deleted generations with the user (CASCADE).
        await run(delete(generations).where(generations.c.user_id == user_id))
        await run(delete(training_jobs).where(training_jobs.c.user_id == user_id))
        await run(delete(user_models).where(user_models.c.user_id == user_id))
        await run(delete(users).where(users.c.id == user_id))

    async def insert_deletion(
        self,
        *,
        former_user_id: str,
        replicate_model_id: str | None,
        training_ids: Sequence[str],
        prediction_ids: Sequence[str],
        file_ids: Sequence[str],
    ) -> AccountDeletion:
        return await self._returned(
            insert(deletions)
            .values(
                former_user_id=former_user_id,
                replicate_model_id=replicate_model_id,
                training_ids=list(training_ids),
                prediction_ids=list(prediction_ids),
                file_ids=list(file_ids),
            )
            .returning(deletions)
        )

    async def get_deletion(self, deletion_id: str) -> AccountDeletion | None:
        key = parse_uuid(deletion_id)
        if key is None:
            return None
        return await self._one(select(deletions).where(deletions.c.id == key))

    async def step_done(self, deletion_id: str, step: DeletionStep) -> bool:
        result = await self._connection.execute(
            update(deletions)
            .where(
                deletions.c.id == uuid.UUID(deletion_id),
                ~(literal(step.value) == any_(deletions.c.steps_done)),
            )
            .values(
                steps_done=func.array_append(deletions.c.steps_done, step.value),
                last_error=None,
                updated_at=func.now(),
            )
        )
        return bool(result.rowcount)

    async def step_failed(self, deletion_id: str, error: str) -> None:
        await self._connection.execute(
            update(deletions)
            .where(deletions.c.id == uuid.UUID(deletion_id))
            .values(last_error=error, updated_at=func.now())
        )

    async def finish_deletion(self, deletion_id: str) -> None:
        await self._connection.execute(
            delete(deletions).where(deletions.c.id == uuid.UUID(deletion_id))
        )

    async def unfinished_deletions(self, *, older_than: datetime) -> list[AccountDeletion]:
        return await self._all(
            select(deletions).where(deletions.c.updated_at < older_than).order_by(deletions.c.id)
        )
