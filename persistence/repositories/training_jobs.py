import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, any_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import TrainingInProgress
from domain.paging import Page
from domain.training.models import ACTIVE_TRAINING_STATUSES, TrainingJob, TrainingStatus
from persistence.repositories.arrays import text_array, uuid_array
from persistence.repositories.leases import claim_stale
from persistence.repositories.rows import RowRepository, parse_uuid
from persistence.tables import TrainingJobRow, table_of

# Core statements on the table: this is the webhooks' hot path, and rows are mapped
# to domain objects here anyway, so the ORM's unit of work would only cost time.
jobs = table_of(TrainingJobRow)
_ACTIVE = [status.value for status in ACTIVE_TRAINING_STATUSES]


def _to_job(row: Any) -> TrainingJob:
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
        images_url=row.images_url,
        upload_file_id=row.upload_file_id,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        updated_at=row.updated_at,
    )


class SqlTrainingJobRepository(RowRepository[TrainingJob]):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, _to_job)

    async def active_for_user(self, user_id: str) -> TrainingJob | None:
        return await self._one(
            select(jobs).where(jobs.c.user_id == user_id, jobs.c.status.in_(_ACTIVE))
        )

    async def active_for_users(self, user_ids: Sequence[str]) -> list[TrainingJob]:
        return await self._all(
            select(jobs).where(
                jobs.c.user_id == any_(text_array(user_ids)),
                jobs.c.status.in_(_ACTIVE),
            )
        )

    async def latest_for_user(self, user_id: str) -> TrainingJob | None:
        return await self._one(
            select(jobs)
            .where(jobs.c.user_id == user_id)
            .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
            .limit(1)
        )

    async def insert_queued(self, user_id: str, model_id: str, image_count: int) -> TrainingJob:
        try:
            result = await self._connection.execute(
                insert(jobs)
                .values(
                    user_id=user_id,
                    model_id=uuid.UUID(model_id),
                    status=TrainingStatus.QUEUED.value,
                    image_count=image_count,
                )
                .returning(jobs)
            )
        except IntegrityError as error:
            if "uq_training_jobs_one_active_per_user" not in str(error.orig):
                raise
            raise TrainingInProgress.running() from error
        return _to_job(result.one())

    async def get_owned(self, user_id: str, job_id: str) -> TrainingJob | None:
        key = parse_uuid(job_id)
        if key is None:
            return None
        return await self._one(select(jobs).where(jobs.c.id == key, jobs.c.user_id == user_id))

    async def owned_by_ids(self, user_id: str, job_ids: Sequence[str]) -> list[TrainingJob]:
        return await self._all(
            select(jobs).where(jobs.c.id == any_(uuid_array(job_ids)), jobs.c.user_id == user_id)
        )

    async def get(self, job_id: str, *, lock: bool = False) -> TrainingJob | None:
        key = parse_uuid(job_id)
        if key is None:
            return None
        query = select(jobs).where(jobs.c.id == key)
        return await self._one(query.with_for_update() if lock else query)

    async def save(self, job: TrainingJob) -> TrainingJob:
        return await self._returned(
            update(jobs)
            .where(jobs.c.id == uuid.UUID(job.id))
            .values(
                status=job.status.value,
                progress=job.progress,
                replicate_training_id=job.replicate_training_id,
                error=job.error,
                upstream_error=job.upstream_error,
                images_url=job.images_url,
                upload_file_id=job.upload_file_id,
                started_at=job.started_at,
                completed_at=job.completed_at,
                updated_at=func.now(),
                last_heard_at=func.now(),
                lease_until=None,
            )
            .returning(jobs)
        )

    async def count_started_since(self, user_id: str, moment: datetime) -> int:
        never_reached_replicate = (jobs.c.status == TrainingStatus.FAILED.value) & (
            jobs.c.replicate_training_id.is_(None)
        )
        count = await self._connection.scalar(
            select(func.count())
            .select_from(jobs)
            .where(
                jobs.c.user_id == user_id,
                jobs.c.created_at >= moment,
                ~never_reached_replicate,
            )
        )
        return int(count or 0)

    async def page(
        self, user_id: str, *, first: int, after: tuple[datetime, str] | None
    ) -> Page[TrainingJob]:
        query = select(jobs).where(jobs.c.user_id == user_id)
        return await self._page(query, jobs, first=first, after=after)

    async def all_for_user(self, user_id: str) -> list[TrainingJob]:
        return await self._all(select(jobs).where(jobs.c.user_id == user_id))

    async def uploads_to_delete(self, *, ended_before: datetime, limit: int) -> list[TrainingJob]:
        return await self._all(
            select(jobs)
            .where(
                jobs.c.upload_file_id.is_not(None),
                jobs.c.completed_at.is_not(None),
                jobs.c.completed_at < ended_before,
            )
            .order_by(jobs.c.completed_at)
            .limit(limit)
        )

    async def forget_upload(self, file_id: str) -> None:
        await self._connection.execute(
            update(jobs).where(jobs.c.upload_file_id == file_id).values(upload_file_id=None)
        )

    async def referenced_uploads(self, file_ids: Sequence[str]) -> set[str]:
        rows = await self._connection.scalars(
            select(jobs.c.upload_file_id).where(jobs.c.upload_file_id == any_(text_array(file_ids)))
        )
        return {str(file_id) for file_id in rows}

    async def claim_stale(
        self,
        *,
        silent_for_seconds: float,
        lease_seconds: float,
        limit: int,
        canceled_unconfirmed_for_seconds: float = 0.0,
    ) -> list[TrainingJob]:
        unconfirmed = jobs.c.replicate_training_id.is_(None)
        # Canceled while its create request may have reached Replicate: found and
        # canceled there, if it exists, while these seconds last.
        canceled_unconfirmed = and_(
            jobs.c.status == TrainingStatus.CANCELED.value,
            unconfirmed,
            jobs.c.images_url.is_not(None),
            jobs.c.created_at > func.now() - timedelta(seconds=canceled_unconfirmed_for_seconds),
        )
        rows = await claim_stale(
            self._connection,
            jobs,
            or_(jobs.c.status.in_(_ACTIVE), canceled_unconfirmed),
            unconfirmed=unconfirmed,
            silent_for_seconds=silent_for_seconds,
            lease_seconds=lease_seconds,
            limit=limit,
        )
        return [_to_job(row) for row in rows]
