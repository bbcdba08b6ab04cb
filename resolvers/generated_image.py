"""Fields of `GeneratedImage`."""

from domain.errors import NotFound
from domain.images import ImageSize
from request_context.context import Info
from resolvers.generation_nodes import with_images
from resolvers.views import ShownGeneration


def image_url(info: Info, image_id: str, size: ImageSize) -> str:
    return info.context.image_url(image_id, size)


async def image_generation(info: Info, generation_id: str) -> ShownGeneration:
    generation = await info.context.loaders.generation.load(generation_id)
    if generation is None:
        raise NotFound("No such generation among yours.")
    [shown] = await with_images(info, [generation])
    return shown
