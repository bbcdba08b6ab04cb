from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from persistence.tables import WebhookDeliveryRow, table_of


class SqlWebhookDeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def first_delivery(self, webhook_id: str) -> bool:
        deliveries = table_of(WebhookDeliveryRow)
        recorded = await self._session.scalar(
            insert(deliveries)
            .values(webhook_id=webhook_id)
            .on_conflict_do_nothing()
            .returning(deliveries.c.webhook_id)
        )
        return recorded is not None

    async def forget_before(self, moment: datetime) -> int:
        result = await self._session.execute(
            delete(WebhookDeliveryRow).where(col(WebhookDeliveryRow.received_at) < moment)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
