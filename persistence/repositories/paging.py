"""Keyset pages, newest first: (created_at, id) below the cursor, one row more than asked."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select


def keyset_page(
    query: Select[Any], table: sa.Table, *, first: int, after: tuple[datetime, str] | None
) -> Select[Any]:
    if after is not None:
        created_at, row_id = after
        query = query.where(
            sa.tuple_(table.c.created_at, table.c.id) < sa.tuple_(created_at, uuid.UUID(row_id))
        )
    return query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(first + 1)
