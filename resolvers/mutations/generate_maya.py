from request_context.context import Info
from resolvers.generation_nodes import with_images
from resolvers.views import ShownGeneration


async def generate_maya(info: Info, prompt: str) -> ShownGeneration:
    generation = await info.context.services.generation.generate_maya(info.context.user, prompt)
    [shown] = await with_images(info, [generation])
    return shown
