from resolvers.context import Info
from resolvers.generation_nodes import with_images
from schema.types.generation_payloads import GeneratePayload, GeneratePhotoshootInput


async def generate_photoshoot(info: Info, input: GeneratePhotoshootInput) -> GeneratePayload:
    generation = await info.context.services.generation.generate_photoshoot(
        info.context.user, str(input.style_id), input.details
    )
    [mapped] = await with_images(info, [generation])
    return GeneratePayload(generation=mapped)
