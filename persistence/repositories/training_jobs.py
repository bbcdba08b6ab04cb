import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Select, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.errors import TrainingInProgress
from domain.training.models import ACTIVE_TRAINING_STATUSES, TrainingJob, TrainingStatus
from persistence.repositories.user_models import parse_uuid
from persistence.tables import TrainingJobRow

_ACTIVE = [status.value for status in ACTIVE_TRAINING_STATUSES]


def _to_job(row: TrainingJobRow) -> TrainingJob:
    return TrainingJob(
        id=str(row.id),
        user_id=row.user_id,
        model_id=str(row.model_id),
        status=TrainingStatus(row.status),
        progress=row.progress,
        image_count=row.image_count,
        replicate_training_id=row.replicate_training_id,
        error=row.error,
        upstream_error=row.upstream_error,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        updated_at=row.updated_at,
    )


def _jobs() -> Select[TrainingJobRow]:
    return select(TrainingJobRow).execution_options(populate_existing=True)


class SqlTrainingJobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _one(self, query: Select[TrainingJobRow]) -> TrainingJob | None:
        row = await self._session.scalar(query)
        return _to_job(row) if row else None

    async def active_for_user(self, user_id: str) -> TrainingJob | None:
        return await self._one(
            _jobs().where(
                col(TrainingJobRow.user_id) == user_id, col(TrainingJobRow.status).in_(_ACTIVE)
            )
        )

    async def active_for_users(self, user_ids: Sequence[str]) -> list[TrainingJob]:
        rows = await self._session.scalars(
            _jobs().where(
                col(TrainingJobRow.user_id).in_(user_ids), col(TrainingJobRow.status).in_(_ACTIVE)
            )
        )
        return [_to_job(row) for row in rows]

    async def latest_for_user(self, user_id: str) -> TrainingJob | None:
        return await self._one(
            _jobs()
            .where(col(TrainingJobRow.user_id) == user_id)
            .order_by(col(TrainingJobRow.created_at).desc(), col(TrainingJobRow.id).desc())
            .limit(1)
        )

    async def insert_queued(self, user_id: str, model_id: str, image_count: int) -> TrainingJob:
        try:
            row = await self._session.scalar(
                insert(TrainingJobRow)
                .values(
                    user_id=user_id,
                    model_id=uuid.UUID(model_id),
                    status=TrainingStatus.QUEUED.value,
                    image_count=image_count,
                )
                .returning(TrainingJobRow)
            )
        except IntegrityError as error:
            if "uq_training_jobs_one_active_per_user" not in str(error.orig):
                raise
            raise TrainingInProgress(
                "A training of yours is already running. Follow it with `trainingProgress`, "
                "or cancel it before starting another."
            ) from error
        assert row is not None
        return _to_job(row)

    async def get_owned(self, user_id: str, job_id: str) -> TrainingJob | None:
        key = parse_uuid(job_id)
        if key is None:
            return None
        return await self._one(
            _jobs().where(col(TrainingJobRow.id) == key, col(TrainingJobRow.user_id) == user_id)
        )

    async def get(self, job_id: str, *, lock: bool = False) -> TrainingJob | None:
        key = parse_uuid(job_id)
        if key is None:
            return None
        query = _jobs().where(col(TrainingJobRow.id) == key)
        return await self._one(query.with_for_update() if lock else query)

    async def save(self, job: TrainingJob) -> TrainingJob:
        row = await self._session.scalar(
            update(TrainingJobRow)
            .where(col(TrainingJobRow.id) == uuid.UUID(job.id))
            .values(
                status=job.status.value,
                progress=job.progress,
                replicate_training_id=job.replicate_training_id,
                error=job.error,
                upstream_error=job.upstream_error,
                started_at=job.started_at,
                completed_at=job.completed_at,
                updated_at=func.now(),
                last_heard_at=func.now(),
                lease_until=None,
            )
            .returning(TrainingJobRow)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return _to_job(row)

    async def claim_stale(
        self, *, silent_for_seconds: float, lease_seconds: float, limit: int
    ) -> list[TrainingJob]:
        now = func.now()
        stale = (
            select(col(TrainingJobRow.id))
            .where(
                col(TrainingJobRow.status).in_(_ACTIVE),
                col(TrainingJobRow.last_heard_at) <= now - timedelta(seconds=silent_for_seconds),
                or_(
                    col(TrainingJobRow.lease_until).is_(None),
                    col(TrainingJobRow.lease_until) < now,
                ),
            )
            .order_by(col(TrainingJobRow.last_heard_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = await self._session.scalars(
            update(TrainingJobRow)
            .where(col(TrainingJobRow.id).in_(stale.scalar_subquery()))
            .values(lease_until=now + timedelta(seconds=lease_seconds))
            .returning(TrainingJobRow)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        return [_to_job(row) for row in rows]
