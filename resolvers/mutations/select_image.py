from domain.generation.models import GeneratedImage
from request_context.context import Info
from resolvers.global_ids import local_id


async def select_image(info: Info, image_id: str) -> GeneratedImage:
    return await info.context.services.generation.select_image(
        info.context.user, local_id(image_id, "GeneratedImage")
    )
