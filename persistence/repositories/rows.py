"""What every repository over one table does: run a statement and map its rows to one
domain type, and turn the ids a client sent into keys."""

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import Executable, Select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.paging import Page
from persistence.repositories.paging import keyset_page

T = TypeVar("T")


def parse_uuid(value: str) -> uuid.UUID | None:
    """The id as a UUID, or None when it is not one (it then names no row)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def uuid_keys(ids: Sequence[str]) -> list[uuid.UUID]:
    """The ids that are UUIDs, as UUIDs (any other id names no row)."""
    return [key for key in map(parse_uuid, ids) if key is not None]


class RowRepository(Generic[T]):
    def __init__(self, connection: AsyncConnection, from_row: Callable[[Any], T]) -> None:
        self._connection = connection
        self._from_row = from_row

    async def _one(self, query: Select[Any]) -> T | None:
        row = (await self._connection.execute(query)).first()
        return self._from_row(row) if row else None

    async def _all(self, query: Select[Any]) -> list[T]:
        return [self._from_row(row) for row in await self._connection.execute(query)]

    async def _returned(self, statement: Executable) -> T:
        """The one row an INSERT or UPDATE … RETURNING gave back."""
        return self._from_row((await self._connection.execute(statement)).one())

    async def _page(
        self, query: Select[Any], table: sa.Table, *, first: int, after: tuple[datetime, str] | None
    ) -> Page[T]:
        rows = (
            await self._connection.execute(keyset_page(query, table, first=first, after=after))
        ).all()
        return Page([self._from_row(row) for row in rows[:first]], has_next=len(rows) > first)
