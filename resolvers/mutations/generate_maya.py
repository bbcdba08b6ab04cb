from resolvers.context import Info
from resolvers.generation_nodes import with_images
from schema.types.generation_payloads import GenerateMayaInput, GeneratePayload


async def generate_maya(info: Info, input: GenerateMayaInput) -> GeneratePayload:
    generation = await info.context.services.generation.generate_maya(
        info.context.user, input.prompt
    )
    [mapped] = await with_images(info, [generation])
    return GeneratePayload(generation=mapped)
