from request_context.context import Info
from resolvers.generation_nodes import shown_image
from resolvers.global_ids import local_id
from resolvers.views import ShownImage


async def select_image(info: Info, image_id: str) -> ShownImage:
    image = await info.context.services.generation.select_image(
        info.context.user, local_id(image_id, "GeneratedImage")
    )
    return shown_image(info, image)
