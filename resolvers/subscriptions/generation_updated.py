from collections.abc import AsyncGenerator

import strawberry

from resolvers.context import Info
from resolvers.generation_nodes import with_images
from resolvers.global_ids import local_id
from schema.types.generation import Generation


async def generation_updated(
    info: Info, generation_id: strawberry.ID
) -> AsyncGenerator[Generation]:
    follow = info.context.services.generation.follow(
        info.context.user, local_id(generation_id, "Generation")
    )
    async for generation in follow:
        info.context.renew_loaders()
        [mapped] = await with_images(info, [generation])
        yield mapped
