from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from persistence.tables import ReplicateOwnerRow


class SqlOwnerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def reserve_model_slot(self, owners: Sequence[str], per_owner: int) -> str | None:
        await self._session.execute(
            insert(ReplicateOwnerRow)
            .values([{"owner": owner, "model_count": 0} for owner in owners])
            .on_conflict_do_nothing()
        )
        for owner in owners:
            # Atomic: concurrent reservations can never push an owner past its limit.
            reserved = await self._session.scalar(
                update(ReplicateOwnerRow)
                .where(
                    col(ReplicateOwnerRow.owner) == owner,
                    col(ReplicateOwnerRow.model_count) < per_owner,
                )
                .values(model_count=col(ReplicateOwnerRow.model_count) + 1)
                .returning(col(ReplicateOwnerRow.owner))
            )
            if reserved is not None:
                return owner
        return None
