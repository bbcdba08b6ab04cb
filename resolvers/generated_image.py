"""Fields of `GeneratedImage`."""

from typing import TYPE_CHECKING, Annotated

import strawberry

from domain.errors import NotFound
from resolvers.context import Info

if TYPE_CHECKING:
    from schema.types.generated_image import GeneratedImage
    from schema.types.generation import Generation


async def resolve_image_generation(
    root: "GeneratedImage", info: Info
) -> Annotated["Generation", strawberry.lazy("schema.types.generation")]:
    # Imported here: Generation's module imports GeneratedImage (`images`).
    from resolvers.generation_nodes import with_images

    generation = await info.context.loaders.generation.load(root.generation_id)
    if generation is None:
        raise NotFound("No such generation among yours.")
    [mapped] = await with_images(info, [generation])
    return mapped
