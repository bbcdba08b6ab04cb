"""Leases for the reconciler: replicas split the active rows they poll between them."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


async def claim_stale(
    connection: AsyncConnection,
    table: sa.Table,
    claimable: ColumnElement[bool],
    *,
    unconfirmed: ColumnElement[bool],
    silent_for_seconds: float,
    lease_seconds: float,
    limit: int,
) -> Sequence[Any]:
    """Claimable rows not heard of for that long (or `unconfirmed`: not yet known
    upstream, whatever their silence) and not leased, now leased to the caller.

    `FOR UPDATE SKIP LOCKED` lets replicas claim at the same moment without waiting
    for each other or taking the same rows.
    """
    now = func.now()
    stale = (
        select(table.c.id)
        .where(
            claimable,
            or_(table.c.last_heard_at <= now - timedelta(seconds=silent_for_seconds), unconfirmed),
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
        )
        .order_by(table.c.last_heard_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await connection.execute(
        update(table)
        .where(table.c.id.in_(stale.scalar_subquery()))
        .values(lease_until=now + timedelta(seconds=lease_seconds))
        .returning(table)
    )
    rows: Sequence[Any] = result.all()
    return rows
