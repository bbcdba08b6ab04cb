import strawberry

from resolvers.context import Info
from resolvers.global_ids import local_id
from schema.types.generated_image import GeneratedImage


async def select_image(info: Info, id: strawberry.ID) -> GeneratedImage:
    image = await info.context.services.generation.select_image(
        info.context.user, local_id(id, "GeneratedImage")
    )
    return GeneratedImage.from_domain(image, info.context.image_url(image.id))
