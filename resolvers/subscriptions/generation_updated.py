from collections.abc import AsyncGenerator

from request_context.context import Info
from resolvers.generation_nodes import with_images
from resolvers.global_ids import local_id
from resolvers.views import ShownGeneration


async def generation_updated(info: Info, generation_id: str) -> AsyncGenerator[ShownGeneration]:
    follow = info.context.services.generation.follow(
        info.context.user, local_id(generation_id, "Generation")
    )
    async for generation in follow:
        info.context.renew_loaders()
        [shown] = await with_images(info, [generation])
        yield shown
