import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import any_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.generation.models import (
    ACTIVE_GENERATION_STATUSES,
    Generation,
    GenerationSource,
    GenerationStatus,
)
from domain.generation.parameters import GenerationParameters
from domain.paging import Page
from domain.privacy.models import UsageKind
from persistence.repositories.accounts import count_anonymously
from persistence.repositories.arrays import uuid_array
from persistence.repositories.leases import claim_stale
from persistence.repositories.rows import RowRepository, parse_uuid
from persistence.tables import DeletedGenerationRow, GenerationRow, table_of

generations = table_of(GenerationRow)
deleted_generations = table_of(DeletedGenerationRow)
_ACTIVE = [status.value for status in ACTIVE_GENERATION_STATUSES]


def _to_generation(row: Any) -> Generation:
    return Generation(
        id=str(row.id),
        user_id=row.user_id,
        source=GenerationSource(row.source),
        replicate_version=row.replicate_version,
        style_id=row.style_id,
        prompt=row.prompt,
        parameters=GenerationParameters.from_dict(row.parameters),
        status=GenerationStatus(row.status),
        replicate_prediction_id=row.replicate_prediction_id,
        output_urls=list(row.output_urls),
        error=row.error,
        upstream_error=row.upstream_error,
        allowance_returned=row.allowance_returned,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
    )


class SqlGenerationRepository(RowRepository[Generation]):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, _to_generation)

    async def insert(
        self,
        *,
        user_id: str,
        source: GenerationSource,
        replicate_version: str,
        style_id: str | None,
        prompt: str,
        parameters: GenerationParameters,
    ) -> Generation:
        return await self._returned(
            insert(generations)
            .values(
                user_id=user_id,
                source=source.value,
                replicate_version=replicate_version,
                style_id=style_id,
                prompt=prompt,
                parameters=parameters.as_dict(),
                status=GenerationStatus.STARTING.value,
            )
            .returning(generations)
        )

    async def get_owned(self, user_id: str, generation_id: str) -> Generation | None:
        key = parse_uuid(generation_id)
        if key is None:
            return None
        return await self._one(
            select(generations).where(generations.c.id == key, generations.c.user_id == user_id)
        )

    async def owned_by_ids(self, user_id: str, generation_ids: Sequence[str]) -> list[Generation]:
        return await self._all(
            select(generations).where(
                generations.c.id == any_(uuid_array(generation_ids)),
                generations.c.user_id == user_id,
            )
        )

    async def get(self, generation_id: str, *, lock: bool = False) -> Generation | None:
        key = parse_uuid(generation_id)
        if key is None:
            return None
        query = select(generations).where(generations.c.id == key)
        return await self._one(query.with_for_update() if lock else query)

    async def save(self, generation: Generation) -> Generation:
        return await self._returned(
            update(generations)
            .where(generations.c.id == uuid.UUID(generation.id))
            .values(
                status=generation.status.value,
                replicate_prediction_id=generation.replicate_prediction_id,
                output_urls=generation.output_urls,
                error=generation.error,
                upstream_error=generation.upstream_error,
                allowance_returned=generation.allowance_returned,
                completed_at=generation.completed_at,
                updated_at=func.now(),
                last_heard_at=func.now(),
                lease_until=None,
            )
            .returning(generations)
        )

    async def count_active(self, user_id: str) -> int:
        count = await self._connection.scalar(
            select(func.count())
            .select_from(generations)
            .where(generations.c.user_id == user_id, generations.c.status.in_(_ACTIVE))
        )
        return int(count or 0)

    async def count_counted_since(self, user_id: str, moment: datetime) -> int:
        kept = (
            select(func.count())
            .select_from(generations)
            .where(
                generations.c.user_id == user_id,
                generations.c.created_at >= moment,
                generations.c.allowance_returned.is_(False),
            )
            .scalar_subquery()
        )
        deleted = (
            select(func.count())
            .select_from(deleted_generations)
            .where(
                deleted_generations.c.user_id == user_id,
                deleted_generations.c.created_at >= moment,
            )
            .scalar_subquery()
        )
        return int(await self._connection.scalar(select(kept + deleted)) or 0)

    async def active_for_user(self, user_id: str) -> list[Generation]:
        return await self._all(
            select(generations).where(
                generations.c.user_id == user_id, generations.c.status.in_(_ACTIVE)
            )
        )

    async def delete(self, generation: Generation, *, still_counts: bool) -> None:
        key = uuid.UUID(generation.id)
        await count_anonymously(
            self._connection, generations, UsageKind.GENERATION, generations.c.id == key
        )
        if still_counts:
            await self._connection.execute(
                insert(deleted_generations).values(
                    id=key, user_id=generation.user_id, created_at=generation.created_at
                )
            )
        # Its images' rows go with it (ON DELETE CASCADE).
        await self._connection.execute(delete(generations).where(generations.c.id == key))

    async def existing_ids(self, generation_ids: Sequence[str]) -> set[str]:
        rows = await self._connection.scalars(
            select(generations.c.id).where(generations.c.id == any_(uuid_array(generation_ids)))
        )
        return {str(key) for key in rows}

    async def forget_deleted_before(self, moment: datetime) -> int:
        result = await self._connection.execute(
            delete(deleted_generations).where(deleted_generations.c.created_at < moment)
        )
        return int(result.rowcount)

    async def page(
        self,
        user_id: str,
        *,
        first: int,
        after: tuple[datetime, str] | None,
        source: GenerationSource | None,
    ) -> Page[Generation]:
        query = select(generations).where(generations.c.user_id == user_id)
        if source is not None:
            query = query.where(generations.c.source == source.value)
        return await self._page(query, generations, first=first, after=after)

    async def claim_stale(
        self, *, silent_for_seconds: float, lease_seconds: float, limit: int
    ) -> list[Generation]:
        rows = await claim_stale(
            self._connection,
            generations,
            generations.c.status.in_(_ACTIVE),
            unconfirmed=generations.c.replicate_prediction_id.is_(None),
            silent_for_seconds=silent_for_seconds,
            lease_seconds=lease_seconds,
            limit=limit,
        )
        return [_to_generation(row) for row in rows]
