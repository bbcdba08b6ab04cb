from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from persistence.tables import WebhookDeliveryRow, table_of

deliveries = table_of(WebhookDeliveryRow)


class SqlWebhookDeliveryRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def first_delivery(self, webhook_id: str) -> bool:
        recorded = await self._connection.scalar(
            insert(deliveries)
            .values(webhook_id=webhook_id)
            .on_conflict_do_nothing()
            .returning(deliveries.c.webhook_id)
        )
        return recorded is not None

    async def forget_before(self, moment: datetime) -> int:
        result = await self._connection.execute(
            delete(deliveries).where(deliveries.c.received_at < moment)
        )
        return int(result.rowcount)
