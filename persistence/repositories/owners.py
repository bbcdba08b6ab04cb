from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from persistence.tables import ReplicateOwnerRow, table_of

owners_table = table_of(ReplicateOwnerRow)


class SqlOwnerRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def reserve_model_slot(self, owners: Sequence[str], per_owner: int) -> str | None:
        await self._connection.execute(
            insert(owners_table)
            .values([{"owner": owner, "model_count": 0} for owner in owners])
            .on_conflict_do_nothing()
        )
        for owner in owners:
            # Atomic: concurrent reservations can never push an owner past its limit.
            reserved = await self._connection.scalar(
                update(owners_table)
                .where(
                    owners_table.c.owner == owner,
                    owners_table.c.model_count < per_owner,
                )
                .values(model_count=owners_table.c.model_count + 1)
                .returning(owners_table.c.owner)
            )
            if reserved is not None:
                return owner
        return None

    async def release_model_slot(self, owner: str) -> None:
        await self._connection.execute(
            update(owners_table)
            .where(owners_table.c.owner == owner, owners_table.c.model_count > 0)
            .values(model_count=owners_table.c.model_count - 1)
        )
