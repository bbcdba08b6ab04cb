"""The store of automatic persisted queries: a bounded table every replica shares."""

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.tables import PersistedQueryRow, table_of

persisted_queries = table_of(PersistedQueryRow)

MAX_QUERY_CHARS = 100_000  # as the table's check constraint


class SqlPersistedQueryStore:
    def __init__(self, engine: AsyncEngine, *, max_entries: int = 10_000) -> None:
        self._engine = engine
        self._max_entries = max_entries

    async def get(self, sha256_hash: str) -> str | None:
        async with self._engine.connect() as connection:
            query = await connection.scalar(
                select(persisted_queries.c.query).where(persisted_queries.c.sha256 == sha256_hash)
            )
        return query if isinstance(query, str) else None

    async def put(self, sha256_hash: str, query: str) -> None:
        """Keeps the query unless it is too long; the oldest beyond the bound are dropped."""
        if len(query) > MAX_QUERY_CHARS:
            return
        async with self._engine.begin() as connection:
            inserted = await connection.execute(
                insert(persisted_queries)
                .values(sha256=sha256_hash, query=query)
                .on_conflict_do_nothing()
            )
            if inserted.rowcount:
                await connection.execute(
                    delete(persisted_queries).where(
                        persisted_queries.c.sha256.in_(
                            select(persisted_queries.c.sha256)
                            .order_by(persisted_queries.c.created_at.desc())
                            .offset(self._max_entries)
                        )
                    )
                )
