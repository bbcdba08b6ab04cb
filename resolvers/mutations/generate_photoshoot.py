from request_context.context import Info
from resolvers.generation_nodes import with_images
from resolvers.views import ShownGeneration


async def generate_photoshoot(info: Info, style_id: str, details: str | None) -> ShownGeneration:
    generation = await info.context.services.generation.generate_photoshoot(
        info.context.user, style_id, details
    )
    [shown] = await with_images(info, [generation])
    return shown
