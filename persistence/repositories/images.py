import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, func, literal, not_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.generation.models import GeneratedImage, StoredOutput
from domain.images import ImageSize
from persistence.repositories.arrays import uuid_array
from persistence.repositories.rows import RowRepository, parse_uuid
from persistence.tables import GeneratedImageRow, table_of

images_table = table_of(GeneratedImageRow)


def _to_image(row: Any) -> GeneratedImage:
    return GeneratedImage(
        id=str(row.id),
        generation_id=str(row.generation_id),
        user_id=row.user_id,
        position=row.position,
        storage_key=row.storage_key,
        content_type=row.content_type,
        width=row.width,
        height=row.height,
        selected=row.selected,
        created_at=row.created_at,
        renditions=frozenset(ImageSize(size) for size in row.renditions),
    )


class SqlGeneratedImageRepository(RowRepository[GeneratedImage]):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, _to_image)

    async def for_generations(
        self, user_id: str, generation_ids: Sequence[str]
    ) -> list[GeneratedImage]:
        return await self._all(
            select(images_table)
            .where(
                images_table.c.user_id == user_id,
                images_table.c.generation_id == any_(uuid_array(generation_ids)),
            )
            .order_by(images_table.c.generation_id, images_table.c.position)
        )

    async def add_missing(
        self,
        *,
        generation_id: str,
        user_id: str,
        images: Sequence[StoredOutput],
    ) -> None:
        await self._connection.execute(
            insert(images_table)
            .values(
                [
                    {
                        "generation_id": uuid.UUID(generation_id),
                        "user_id": user_id,
                        "position": image.position,
                        "storage_key": image.storage_key,
                        "content_type": image.content_type,
                        "width": image.width,
                        "height": image.height,
                    }
                    for image in images
                ]
            )
            .on_conflict_do_nothing(index_elements=["generation_id", "position"])
        )

    async def select(self, user_id: str, image_id: str) -> GeneratedImage | None:
        key = parse_uuid(image_id)
        if key is None:
            return None
        generation_id = await self._connection.scalar(
            select(images_table.c.generation_id)
            .where(images_table.c.id == key, images_table.c.user_id == user_id)
            .with_for_update()
        )
        if generation_id is None:
            return None
        await self._connection.execute(
            update(images_table)
            .where(
                images_table.c.generation_id == generation_id,
                images_table.c.user_id == user_id,
                images_table.c.id != key,
                images_table.c.selected,
            )
            .values(selected=False)
        )
        return await self._returned(
            update(images_table)
            .where(images_table.c.id == key, images_table.c.user_id == user_id)
            .values(selected=True)
            .returning(images_table)
        )

    async def owned_by_ids(self, user_id: str, image_ids: Sequence[str]) -> list[GeneratedImage]:
        return await self._all(
            select(images_table).where(
                images_table.c.id == any_(uuid_array(image_ids)),
                images_table.c.user_id == user_id,
            )
        )

    async def get(self, image_id: str) -> GeneratedImage | None:
        key = parse_uuid(image_id)
        if key is None:
            return None
        return await self._one(select(images_table).where(images_table.c.id == key))

    async def for_generation(self, generation_id: str) -> list[GeneratedImage]:
        key = parse_uuid(generation_id)
        if key is None:
            return []
        return await self._all(
            select(images_table)
            .where(images_table.c.generation_id == key)
            .order_by(images_table.c.position)
        )

    async def add_rendition(self, image_id: str, size: ImageSize) -> None:
        key = parse_uuid(image_id)
        if key is None:
            return
        renditions = images_table.c.renditions
        await self._connection.execute(
            update(images_table)
            .where(images_table.c.id == key, not_(literal(size.value) == any_(renditions)))
            .values(renditions=func.array_append(renditions, size.value))
        )
